kek {
  kms = "vault:pin-value=1234"
}

api {
  token_env = "AMTRCS-API-TOKEN"
}
