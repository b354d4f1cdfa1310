server {
}

server {
}

domain {
  suffixes = ["corp.example.com"]
}

listener "api" {
}
