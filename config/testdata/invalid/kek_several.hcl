kek {
  file = "/var/lib/amtrcs/kek"
  env  = "AMTRCS_KEK"
}
