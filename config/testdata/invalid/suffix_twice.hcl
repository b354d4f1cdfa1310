domain "corp" {
  suffixes = ["corp.example.com", "branch.example.com", "Branch.Example.com."]
}

domain "other" {
  suffixes = ["other.example.com", "corp.example.com"]
}
