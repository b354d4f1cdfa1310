store {
  backend = "postgres"
  url     = "mysql:secret@db"
}
