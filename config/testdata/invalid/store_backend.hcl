store {
  backend = "mysql"
}
