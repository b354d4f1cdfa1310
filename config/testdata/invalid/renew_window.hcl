ca {
  amt_tls_validity = "720h"
}
