#include "common/prometheus_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace rtplatch {
namespace {

using ::testing::HasSubstr;

TEST(PrometheusTextTest, CounterHasHelpTypeAndSample) {
  PrometheusText t;
  t.Counter("rtplatch_sip_requests_total", "SIP requests received.", 42);
  EXPECT_EQ(t.text(),
            "# HELP rtplatch_sip_requests_total SIP requests received.\n"
            "# TYPE rtplatch_sip_requests_total counter\n"
            "rtplatch_sip_requests_total 42\n");
  EXPECT_EQ(t.invalid_names(), 0);
}

TEST(PrometheusTextTest, LabelsAreEscaped) {
  PrometheusText t;
  t.Family("rtplatch_x_total", MetricType::kCounter, "back\\slash\nnewline");
  t.Sample(1, {{"method", "INVITE"}, {"agent", "a \"quoted\" \\ value\nnext"}});
  EXPECT_THAT(t.text(), HasSubstr("# HELP rtplatch_x_total back\\\\slash\\nnewline\n"));
  EXPECT_THAT(t.text(), HasSubstr(
      "rtplatch_x_total{method=\"INVITE\",agent=\"a \\\"quoted\\\" \\\\ value\\nnext\"} 1\n"));
}

TEST(PrometheusTextTest, BadNamesAreCountedNotWritten) {
  PrometheusText t;
  t.Counter("9starts_with_digit", "bad", 1);
  t.Family("rtplatch_ok", MetricType::kGauge, "ok");
  t.Sample(2, {{"__reserved", "x"}, {"bad-dash", "y"}, {"good", "z"}});
  EXPECT_EQ(t.invalid_names(), 3);
  EXPECT_THAT(t.text(), HasSubstr("rtplatch_invalid_metric_name 1\n"));
  EXPECT_THAT(t.text(), HasSubstr("rtplatch_ok{good=\"z\"} 2\n"));
  EXPECT_THAT(t.text(), ::testing::Not(HasSubstr("9starts")));
}

TEST(PrometheusTextTest, ValuesInTheFormatsGrammar) {
  PrometheusText t;
  t.Family("rtplatch_v", MetricType::kGauge, "v");
  t.Sample(0.25);
  t.Sample(std::numeric_limits<double>::infinity());
  t.Sample(-std::numeric_limits<double>::infinity());
  t.Sample(std::nan(""));
  t.Sample(18446744073709551615.0);
  EXPECT_THAT(t.text(), HasSubstr("rtplatch_v 0.25\nrtplatch_v +Inf\nrtplatch_v -Inf\n"
                                  "rtplatch_v NaN\nrtplatch_v 1.8446744073709552e+19\n"));
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulative) {
  PrometheusText t;
  const double bounds[] = {0.1, 1};
  const uint64_t counts[] = {3, 2, 1};  // <= 0.1, <= 1, above
  t.Histogram("rtplatch_call_setup_seconds", "Set-up time.", bounds, counts, 4.5,
              {{"kind", "local"}});
  EXPECT_THAT(t.text(), HasSubstr("# TYPE rtplatch_call_setup_seconds histogram\n"
                                  "rtplatch_call_setup_seconds_bucket{kind=\"local\",le=\"0.1\"} 3\n"
                                  "rtplatch_call_setup_seconds_bucket{kind=\"local\",le=\"1\"} 5\n"
                                  "rtplatch_call_setup_seconds_bucket{kind=\"local\",le=\"+Inf\"} 6\n"
                                  "rtplatch_call_setup_seconds_sum{kind=\"local\"} 4.5\n"
                                  "rtplatch_call_setup_seconds_count{kind=\"local\"} 6\n"));
}

}  // namespace
}  // namespace rtplatch
