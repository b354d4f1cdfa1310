domain "corp" {
  suffixes               = ["corp.example.com"]
  provisioning_cert      = "rcs-corp-2025"
  provisioning_cert_file = "/etc/amtrcs/corp.pem"
}

domain "empty-id" {
  suffixes          = ["lab.example.com"]
  provisioning_cert = ""
}
