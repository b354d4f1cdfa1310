profile "static" {
  network {
    dhcp           = false
    sync_from_host = false
  }
}
