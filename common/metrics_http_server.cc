#include "common/metrics_http_server.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/socket_address.h"

namespace rtplatch {
namespace {

// Prometheus scrapes one page at a time; a few more connections leave
// room for an operator's curl without letting a client pile them up.
constexpr unsigned kMaxConnections = 8;
constexpr unsigned kIdleTimeoutS = 10;
constexpr const char* kExposition = "text/plain; version=0.0.4; charset=utf-8";

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char* /*version*/, const char* /*upload_data*/,
                     size_t* upload_data_size, void** /*request_state*/) {
  // A body (a POST's) is read and ignored: the answer is 405 either way.
  if (*upload_data_size != 0) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  return static_cast<MetricsHttpServer*>(cls)->Answer(connection, url, method) ? MHD_YES
                                                                              : MHD_NO;
}

absl::Status ListenError(const char* what, const Endpoint& listen) {
  return absl::UnavailableError(absl::StrCat("metrics: ", what, " ", listen.ToString(), ": ",
                                             std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const Endpoint& listen, Render render) {
  const int family = listen.ip.is_v4() ? AF_INET : AF_INET6;
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ListenError("socket for", listen);
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (family == AF_INET6) (void)::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  sockaddr_storage addr{};
  const socklen_t addr_len = ToSockaddr(listen, &addr);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0) {
    absl::Status s = ListenError("bind", listen);
    ::close(fd);
    return s;
  }
  if (::listen(fd, 16) != 0) {
    absl::Status s = ListenError("listen on", listen);
    ::close(fd);
    return s;
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  const Endpoint actual = ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0
                              ? FromSockaddr(bound)
                              : listen;
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer(actual, std::move(render)));
  // No polling thread: MHD_run() from the owner's loop (Poll). The
  // daemon owns the socket from here and closes it on stop.
  unsigned flags = MHD_USE_EPOLL;
  if (family == AF_INET6) flags |= MHD_USE_IPv6;
  server->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &OnRequest, server.get(), MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_LIMIT, kMaxConnections, MHD_OPTION_CONNECTION_TIMEOUT,
      kIdleTimeoutS, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    ::close(fd);
    return absl::InternalError(
        absl::StrCat("metrics: libmicrohttpd would not start on ", listen.ToString()));
  }
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

void MetricsHttpServer::Poll() { (void)MHD_run(daemon_); }

bool MetricsHttpServer::Answer(MHD_Connection* connection, const char* url, const char* method) {
  const bool get = std::strcmp(method, MHD_HTTP_METHOD_GET) == 0;
  const bool head = std::strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  if (!get && !head) {
    return Respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n",
                   "text/plain; charset=utf-8");
  }
  if (std::strcmp(url, "/metrics") != 0) {
    return Respond(connection, MHD_HTTP_NOT_FOUND, "only /metrics is served here\n",
                   "text/plain; charset=utf-8");
  }
  ++scrapes_;
  return Respond(connection, MHD_HTTP_OK, render_(), kExposition);
}

bool MetricsHttpServer::Respond(MHD_Connection* connection, unsigned status,
                                const std::string& body, const char* content_type) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return false;
  (void)MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
    (void)MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  }
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued == MHD_YES;
}

}  // namespace rtplatch
