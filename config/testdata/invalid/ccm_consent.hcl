data_dir = ""

profile "lab" {
  mode         = "ccm"
  user_consent = "none"
}
