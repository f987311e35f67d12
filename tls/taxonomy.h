/* TLS failure taxonomy: why a handshake failed, per side (the reasons are
 * telemetry/schema.h's enum sm_tls_reason, docs/tls.md). The mapping from wolfSSL errors and alerts
 * lives in exactly one function, sm_tls_classify(). */
#ifndef SM_TLS_TAXONOMY_H
#define SM_TLS_TAXONOMY_H

#include "telemetry/schema.h"

/* err: wolfSSL error code; alert_rx/alert_tx: last fatal alert received /
 * sent (-1 if none); eof: transport EOF during the handshake. */
enum sm_tls_reason sm_tls_classify(int err, int alert_rx, int alert_tx, int eof);

#endif
