listen = "0.0.0.0:8443"

domain "corp" {
  suffix = ["corp.example.com"]
}
