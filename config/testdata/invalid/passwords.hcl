profile "static-without-source" {
  admin_password = "static"
  mebx_password  = "static"
}

profile "random-with-source" {
  admin_password_env = "ADMIN_PASSWORD"
}

profile "two-sources" {
  admin_password      = "static"
  admin_password_env  = "ADMIN_PASSWORD"
  admin_password_file = "/etc/amtrcs/admin"
}

profile "length" {
  admin_password_length = 64
}

profile "static-length" {
  admin_password        = "static"
  admin_password_file   = "/etc/amtrcs/admin"
  admin_password_length = 16
}
