# Several servers share one PostgreSQL database; the URL, password
# included, comes from the environment.
store {
  backend = "postgres"
  url     = env.AMTRCS_DATABASE_URL
}

kek {
  env = "AMTRCS_KEK"
}
