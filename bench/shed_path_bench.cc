// What refusing one request costs rtplatch-control's thread in user space
// while it sheds a refresh storm (issue 17): the sniff of the raw head,
// the shedder's decision, and the 503 built from the raw lines. The
// kernel's share (recvmmsg and sendmmsg, about 2 us a datagram on
// loopback) is not here: `scripts/bench registrar --profile DIR` shows it.
// Requests cycle through distinct users and Call-IDs, as a storm's do.
//
//   build/bench/shed_path_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control/guard/overload_shedder.h"
#include "control/guard/raw_response.h"
#include "control/guard/raw_sip_head.h"

namespace rtplatch {
namespace {

constexpr size_t kRequests = 4096;

// A new refresh REGISTER as bench/register_flow.cc sends it.
std::vector<std::string> Registers() {
  std::vector<std::string> out;
  for (size_t i = 0; i < kRequests; ++i) {
    out.push_back(absl::StrCat(
        "REGISTER sip:bench.example SIP/2.0\r\n",
        "Via: SIP/2.0/UDP 127.0.0.1:17060;branch=z9hG4bK-st4242-", i, "-1;rport\r\n",
        "Max-Forwards: 70\r\n",
        "From: <sip:user", i, "@bench.example>;tag=st4242t", i, "\r\n",
        "To: <sip:user", i, "@bench.example>\r\n",
        "Call-ID: st4242-", i, "@bench-load\r\n",
        "CSeq: 1 REGISTER\r\n",
        "Contact: <sip:user", i, "@127.0.0.1:17060>\r\n",
        "Expires: 3600\r\n",
        "User-Agent: rtplatch-bench-register-load\r\n",
        "Content-Length: 0\r\n\r\n"));
  }
  return out;
}

const Endpoint kSource{*IpAddress::Parse("127.0.0.1"), 17060};

void BM_SniffSipHead(benchmark::State& state) {
  const std::vector<std::string> requests = Registers();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(SniffSipHead(requests[i++ % kRequests]));
  }
}
BENCHMARK(BM_SniffSipHead);

// An overloaded shedder refusing new REGISTERs that waited too long.
void BM_DecideRefuse(benchmark::State& state) {
  const std::vector<std::string> requests = Registers();
  OverloadShedder shedder{OverloadConfig{}};
  shedder.Observe(300, 1, 0);  // the kernel dropped one: overloaded at once
  size_t i = 0;
  for (auto _ : state) {
    const ShedVerdict v = shedder.Decide(requests[i++ % kRequests], 300, 1);
    if (v != ShedVerdict::kRefuse) state.SkipWithError("not refused");
  }
}
BENCHMARK(BM_DecideRefuse);

void BM_RawStatelessResponse503(benchmark::State& state) {
  const std::vector<std::string> requests = Registers();
  const std::vector<std::string> extra = {"Retry-After: 5"};
  size_t i = 0;
  for (auto _ : state) {
    std::optional<std::string> r = RawStatelessResponse(
        requests[i++ % kRequests], kSource, 503, "Service Unavailable", "rtplatch", extra);
    if (!r) state.SkipWithError("no response");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_RawStatelessResponse503);

}  // namespace
}  // namespace rtplatch

BENCHMARK_MAIN();
