domain "corp" {
  suffixes = ["corp.example.com"]
  profile  = "offce"
}

profile "office" {
}
