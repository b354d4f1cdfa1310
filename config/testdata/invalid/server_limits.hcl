server {
  audit_max_age            = "-1h"
  audit_max_records        = -5
  hello_pending_expiry     = "0"
  hello_pending_per_source = 0
  hello_pending_max        = -1
}
