server {
  api           = "8443"
  agent_gateway = "0.0.0.0:https"
  hello         = "[::1]:99999"
  advertise_addresses = ["rcs.example.com:8443", "rcs.example.com", "RCS.example.com."]
}

dns {
  resolvers = ["ns1.example.com", "10.0.0.53:0"]
}
