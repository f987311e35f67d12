/* Text helpers of proto/http1.h: error responses, status phrases and
 * reason names (kept apart from the state machine in http1.c). */
#include <llhttp.h>
#include <stdio.h>

#include "base/result.h"
#include "proto/http1.h"

const char *sm_h1_status_phrase(unsigned status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 103: return "Early Hints";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 401: return "Unauthorized";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 407: return "Proxy Authentication Required";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}

long sm_h1_error_response(unsigned status, const char *reason, uint8_t *out, size_t cap)
{
	char body[256];
	const char *phrase = sm_h1_status_phrase(status);
	if (status < 100 || status > 999)
		return SM_ERR_INVALID;
	int bl = snprintf(body, sizeof(body), "%u %s\n%s\n", status, phrase, reason ? reason : "");
	if (bl < 0 || (size_t)bl >= sizeof(body))
		return SM_ERR_LIMIT;
	int n = snprintf((char *)out, cap,
	                 "HTTP/1.1 %u %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
	                 "Connection: close\r\n\r\n%s",
	                 status, phrase, bl, body);
	if (n < 0 || (size_t)n >= cap)
		return SM_ERR_LIMIT;
	return n;
}

const char *sm_h1_reason_str(enum sm_h1_reason r)
{
	switch (r) {
	case SM_H1_R_NONE: return "none";
	case SM_H1_R_PARSE: return "parse";
	case SM_H1_R_HEAD_TOO_LARGE: return "head_too_large";
	case SM_H1_R_TOO_MANY_HEADERS: return "too_many_headers";
	case SM_H1_R_TARGET_TOO_LONG: return "target_too_long";
	case SM_H1_R_HEADER: return "header";
	case SM_H1_R_TARGET: return "target";
	case SM_H1_R_VERSION: return "version";
	case SM_H1_R_BODY: return "body";
	case SM_H1_R_CONNECTION_OPTIONS: return "connection_options";
	case SM_H1_R_UNSOLICITED: return "unsolicited";
	case SM_H1_R_TRUNCATED: return "truncated";
	}
	return "unknown";
}

const char *sm_h1_method_name(uint8_t method)
{
	return llhttp_method_name((llhttp_method_t)method);
}
