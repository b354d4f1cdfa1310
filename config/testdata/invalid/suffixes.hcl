domain "bad" {
  suffixes = [
    "",
    "corp..example.com",
    ".corp.example.com",
    "this-label-is-longer-than-sixty-three-characters-which-dns-forbids-x.example.com",
    "bücher.example.com",
    "a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.a23456789.example.com",
    "_amt.example.com",
    "-corp.example.com",
  ]
  mebx_suffix = "corp example.com"
}

domain "none" {
}

domain "empty" {
  suffixes = []
}
