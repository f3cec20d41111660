// A redis-server of the test's own on loopback (a port the kernel picked),
// ended by PID when the test ends; skipped tests when Redis is not
// installed.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"

namespace rtplatch {

class RedisServer {
 public:
  // Redis keeps its dump (if any) in `dir`.
  explicit RedisServer(std::string dir) : dir_(std::move(dir)) {}
  ~RedisServer() { Stop(); }

  static bool Installed() { return access("/usr/bin/redis-server", X_OK) == 0; }

  static int FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = -1;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
  }

  // Starts it on `port` and waits until it answers PING (5 s at most).
  bool Start(int port) {
    port_ = port;
    pid_ = fork();
    if (pid_ == 0) {
      // Quiet: its banner is not the test's output.
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
      const std::string p = absl::StrCat(port);
      execl("/usr/bin/redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", dir_.c_str(), "--dbfilename",
            "dump.rdb", "--logfile", "", "--loglevel", "warning", nullptr);
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (redisReply* r = Command("PING")) {
        freeReplyObject(r);
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // kill -9: whatever was not saved is gone.
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  // One command on a fresh connection; nullptr if Redis did not answer.
  // The caller frees the reply.
  redisReply* Command(const char* format, ...) const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, {0, 200'000});
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return nullptr;
    }
    va_list ap;
    va_start(ap, format);
    auto* r = static_cast<redisReply*>(redisvCommand(c, format, ap));
    va_end(ap);
    redisFree(c);
    return r;
  }

  int port() const { return port_; }

 private:
  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
};

}  // namespace rtplatch
