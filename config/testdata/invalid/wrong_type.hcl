profile "office" {
  sync_hostname = "maybe"
}
