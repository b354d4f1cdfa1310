domain "corp" {
  suffixes = ["Corp.Example.COM.", "branch.corp.example.com"]
}
