ca {
  mode = "external"
}
