# env.NAME reads the environment given to Load.
data_dir = env.STATE_DIRECTORY

kek {
  env = "AMTRCS_KEK"
}

server {
  api = "${env.LISTEN_HOST}:8443"
}

domain "corp" {
  suffixes = [env.CORP_SUFFIX, "${env.SITE}.example.com"]
}
