#include "common/control_server.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace rtplatch {
namespace {

constexpr size_t kMaxPendingOutput = 64 << 20;  // a subscriber that stops reading
constexpr int kMaxEpollEvents = 64;

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::UnavailableError(absl::StrCat("control socket ", path, ": ", what, ": ",
                                             std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ControlServer>> ControlServer::Listen(const std::string& path,
                                                                     Handler handler) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket", path);
  unlink(path.c_str());  // a stale socket from a previous run
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return Errno("bind", path);
  }
  chmod(path.c_str(), 0660);
  if (listen(fd, 64) != 0) {
    close(fd);
    return Errno("listen", path);
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    close(fd);
    return Errno("epoll_create1", path);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return std::unique_ptr<ControlServer>(new ControlServer(fd, ep, path, std::move(handler)));
}

ControlServer::ControlServer(int listen_fd, int epoll_fd, std::string path, Handler handler)
    : listen_fd_(listen_fd), epoll_fd_(epoll_fd), path_(std::move(path)),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  for (auto& c : connections_) close(c->fd);
  close(epoll_fd_);
  close(listen_fd_);
  unlink(path_.c_str());
}

void ControlServer::Poll(int timeout_ms) {
  epoll_event events[kMaxEpollEvents];
  int n = epoll_wait(epoll_fd_, events, kMaxEpollEvents, timeout_ms);
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == listen_fd_) {
      Accept();
      continue;
    }
    auto it = std::find_if(connections_.begin(), connections_.end(),
                           [fd](const auto& c) { return c->fd == fd; });
    if (it == connections_.end()) continue;
    Connection& c = **it;
    if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(c);
    if (events[i].events & EPOLLOUT) Flush(c);
    if (c.closing && c.out.empty()) Close(fd);
  }
}

void ControlServer::Accept() {
  for (;;) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    connections_.push_back(std::make_unique<Connection>(Connection{fd, LineBuffer(), {}}));
  }
}

void ControlServer::Read(Connection& c) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(c.fd, buf, sizeof(buf));
    if (n > 0) {
      c.in.Append(std::string_view(buf, static_cast<size_t>(n)));
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) c.closing = true;
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  while (auto line = c.in.NextLine()) {
    if (line->empty()) continue;
    bool subscribe = false;
    c.out += handler_(*line, &subscribe);
    c.out += '\n';
    c.subscribed = c.subscribed || subscribe;
  }
  if (c.in.overflowed()) {
    c.out += R"({"v":1,"id":null,"ok":false,"error":{"code":"line_too_long","message":"request line over 16 MiB; closing"}})";
    c.out += '\n';
    c.closing = true;
  }
  Flush(c);
}

void ControlServer::Flush(Connection& c) {
  while (!c.out.empty()) {
    ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      c.out.clear();
      c.closing = true;
    }
    break;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | (c.out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT));
  ev.data.fd = c.fd;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void ControlServer::Close(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  close(fd);
  connections_.erase(std::remove_if(connections_.begin(), connections_.end(),
                                    [fd](const auto& c) { return c->fd == fd; }),
                     connections_.end());
}

void ControlServer::Broadcast(absl::string_view line) {
  std::vector<int> to_close;
  for (auto& c : connections_) {
    if (!c->subscribed || c->closing) continue;
    if (c->out.size() > kMaxPendingOutput) {
      to_close.push_back(c->fd);  // not reading its events: drop it
      continue;
    }
    c->out.append(line.data(), line.size());
    c->out += '\n';
    Flush(*c);
  }
  for (int fd : to_close) Close(fd);
}

}  // namespace rtplatch
