store {
  backend = "postgres"
}
