/* TLS failure taxonomy: why a handshake failed, per side (the reasons are
 * telemetry/schema.h's enum sm_tls_reason, docs/tls.md). The mapping from wolfSSL errors and alerts
 * lives in exactly one function, sm_tls_classify(); how the reason was
 * known, and the one guess we make, in sm_tls_attribute(). */
#ifndef SM_TLS_TAXONOMY_H
#define SM_TLS_TAXONOMY_H

#include <stdbool.h>

#include "telemetry/schema.h"

/* err: wolfSSL error code; alert_rx/alert_tx: last fatal alert received /
 * sent (-1 if none); eof: transport EOF during the handshake. */
enum sm_tls_reason sm_tls_classify(int err, int alert_rx, int alert_tx, int eof);

/* How a reason from sm_tls_classify() (or a transport failure: eof, reset,
 * timeout) was known, and the guess it carries in *inference (NONE for an
 * authoritative one). certificate_delivered: the client had our whole
 * certificate flight (sm_tls_certificate_delivered()), false for the
 * upstream side. The one guess: a client that closes (eof or reset) after
 * our certificate, without an alert, likely refuses it (unknown CA,
 * pinning). The reason stays what was seen. */
enum sm_tls_source sm_tls_attribute(enum sm_tls_reason reason, bool certificate_delivered,
                                    enum sm_tls_inference *inference);

#endif
