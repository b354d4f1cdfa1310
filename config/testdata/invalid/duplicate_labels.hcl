domain "corp" {
  suffixes = ["corp.example.com"]
}

domain "corp" {
  suffixes = ["other.example.com"]
}

profile "office" {
}

profile "office" {
  mode = "ccm"
}
