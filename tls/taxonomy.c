#include "tls/taxonomy.h"

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

/* TLS alert descriptions (RFC 8446 §6). */
enum {
	A_HANDSHAKE_FAILURE = 40,
	A_BAD_CERTIFICATE = 42,
	A_UNSUPPORTED_CERTIFICATE = 43,
	A_CERTIFICATE_EXPIRED = 45,
	A_CERTIFICATE_UNKNOWN = 46,
	A_UNKNOWN_CA = 48,
	A_PROTOCOL_VERSION = 70,
	A_INAPPROPRIATE_FALLBACK = 86,
	A_NO_APPLICATION_PROTOCOL = 120,
};

enum sm_tls_reason sm_tls_classify(int err, int alert_rx, int alert_tx, int eof)
{
	/* our own verification of the peer's certificate */
	switch (err) {
	case ASN_NO_SIGNER_E:
	case ASN_SELF_SIGNED_E:
	case ASN_SIG_CONFIRM_E: return SM_TLS_UNKNOWN_CA;
	case ASN_AFTER_DATE_E: return SM_TLS_CERT_EXPIRED;
	case ASN_BEFORE_DATE_E: return SM_TLS_CERT_NOT_YET_VALID;
	case DOMAIN_NAME_MISMATCH: return SM_TLS_HOSTNAME_MISMATCH;
	case UNKNOWN_ALPN_PROTOCOL_NAME_E: return SM_TLS_ALPN_MISMATCH;
	case VERSION_ERROR: return SM_TLS_PROTOCOL_VERSION;
	default: break;
	}
	/* what the peer told us */
	switch (alert_rx) {
	case A_UNKNOWN_CA:
	case A_BAD_CERTIFICATE:
	case A_CERTIFICATE_UNKNOWN:
	case A_UNSUPPORTED_CERTIFICATE: return SM_TLS_UNKNOWN_CA;
	case A_CERTIFICATE_EXPIRED: return SM_TLS_CERT_EXPIRED;
	case A_PROTOCOL_VERSION:
	case A_INAPPROPRIATE_FALLBACK: return SM_TLS_PROTOCOL_VERSION;
	case A_NO_APPLICATION_PROTOCOL: return SM_TLS_ALPN_MISMATCH;
	case -1: break;
	default: return SM_TLS_HANDSHAKE_ALERT;
	}
	/* what we told the peer */
	switch (alert_tx) {
	case A_PROTOCOL_VERSION: return SM_TLS_PROTOCOL_VERSION;
	case A_NO_APPLICATION_PROTOCOL: return SM_TLS_ALPN_MISMATCH;
	default: break;
	}
	if (err == MATCH_SUITE_ERROR)
		return SM_TLS_HANDSHAKE_ALERT;
	if (eof || err == SOCKET_PEER_CLOSED_E || err == ZERO_RETURN)
		return SM_TLS_EOF;
	return SM_TLS_OTHER;
}

enum sm_tls_source sm_tls_attribute(enum sm_tls_reason reason, bool certificate_delivered,
                                    enum sm_tls_inference *inference)
{
	*inference = SM_TLS_INF_NONE;
	if (certificate_delivered && (reason == SM_TLS_EOF || reason == SM_TLS_RESET)) {
		*inference = SM_TLS_INF_CLOSED_AFTER_CERTIFICATE;
		return SM_TLS_SRC_NATIVE_INFERRED;
	}
	return SM_TLS_SRC_NATIVE_AUTHORITATIVE;
}
