store {
  url = "postgres://amtrcs@db/amtrcs"
}
