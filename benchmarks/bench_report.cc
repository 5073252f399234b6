#include "benchmarks/bench_report.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "benchmarks/bench_config.h"

namespace ovserve::bench {
namespace {

// NaN (no samples) is written as JSON null.
nlohmann::json Number(double v) {
  if (std::isnan(v)) return nullptr;
  return v;
}

void AddFlat(nlohmann::json& j, const std::string& name, const Summary& s) {
  j["mean_" + name + "_ms"] = Number(s.mean);
  j["median_" + name + "_ms"] = Number(s.median);
  j["std_" + name + "_ms"] = Number(s.std);
  j["min_" + name + "_ms"] = Number(s.min);
  j["p90_" + name + "_ms"] = Number(s.p90);
  j["p95_" + name + "_ms"] = Number(s.p95);
  j["p99_" + name + "_ms"] = Number(s.p99);
  j["max_" + name + "_ms"] = Number(s.max);
}

nlohmann::json MetricsToJson(const RunMetrics& m) {
  nlohmann::json j;
  j["num_requests"] = m.requests;
  j["completed"] = m.completed;
  j["failed"] = m.failed;
  j["failures_by_status"] = m.failures_by_status;
  j["duration"] = m.duration_s;
  j["total_input_tokens"] = m.input_tokens;
  j["total_output_tokens"] = m.output_tokens;
  j["input_tokens"] = {{"text", m.input_text_tokens},
                       {"image", m.input_image_tokens},
                       {"video", m.input_video_tokens},
                       {"cached", m.cached_tokens}};
  j["request_throughput"] = Number(m.request_throughput);
  j["input_throughput"] = Number(m.input_throughput);
  j["output_throughput"] = Number(m.output_throughput);
  j["total_token_throughput"] = Number(m.total_token_throughput);
  AddFlat(j, "ttft", m.ttft_ms);
  AddFlat(j, "tpot", m.tpot_ms);
  AddFlat(j, "itl", m.itl_ms);
  AddFlat(j, "e2el", m.e2e_ms);
  j["num_tpot_samples"] = m.tpot_ms.count;
  j["num_itl_samples"] = m.itl_ms.count;
  if (m.goodput) {
    j["good_requests"] = *m.good_requests;
    j["request_goodput"] = Number(*m.goodput);
  } else {
    j["good_requests"] = nullptr;
    j["request_goodput"] = nullptr;
  }
  return j;
}

std::string Ms(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.2f", v); }

void Line(std::string& out, const std::string& name, const std::string& value) {
  absl::StrAppendFormat(&out, "%-44s %s\n", name + ":", value);
}

void Header(std::string& out, const std::string& title, char fill) {
  const int width = 56;
  const int pad = std::max(0, width - static_cast<int>(title.size()));
  out += std::string(static_cast<size_t>(pad / 2), fill) + title +
         std::string(static_cast<size_t>(pad - pad / 2), fill) + "\n";
}

void SummaryLines(std::string& out, const std::string& title, const std::string& name,
                  const Summary& s) {
  Header(out, title, '-');
  Line(out, "Mean " + name + " (ms)", Ms(s.mean));
  Line(out, "Median " + name + " (ms)", Ms(s.median));
  Line(out, "P90 " + name + " (ms)", Ms(s.p90));
  Line(out, "P99 " + name + " (ms)", Ms(s.p99));
  Line(out, "Max " + name + " (ms)", Ms(s.max));
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c == '\n' ? ' ' : c;
  }
  return out + "\"";
}

}  // namespace

void ComputeReport(RunReport& report, double duration_s, const Slo& slo) {
  report.metrics = ComputeRunMetrics(report.timelines, duration_s, slo);
  std::map<std::string, std::vector<RequestTimeline>> by_workload;
  for (const RequestTimeline& t : report.timelines) by_workload[t.workload].push_back(t);
  report.per_workload.clear();
  if (by_workload.size() > 1) {
    for (const auto& [workload, timelines] : by_workload) {
      report.per_workload[workload] = ComputeRunMetrics(timelines, duration_s, slo);
    }
  }
}

nlohmann::json SummaryToJson(const Summary& s) {
  return {{"count", s.count}, {"mean", Number(s.mean)},     {"std", Number(s.std)},
          {"min", Number(s.min)}, {"median", Number(s.median)}, {"p90", Number(s.p90)},
          {"p95", Number(s.p95)}, {"p99", Number(s.p99)},       {"max", Number(s.max)}};
}

nlohmann::json RunToJson(const RunReport& r, const Slo& slo) {
  nlohmann::json j = MetricsToJson(r.metrics);
  j["name"] = r.name;
  j["request_rate"] = RateToJson(r.request_rate);
  j["arrival"] = ArrivalModeName(r.arrival);
  j["max_concurrency"] = r.max_concurrency > 0 ? nlohmann::json(r.max_concurrency) : nullptr;
  j["num_prompts"] = r.num_prompts;
  j["sent"] = r.metrics.requests;
  j["not_sent"] = r.not_sent;
  j["prepare_s"] = r.prepare_s;
  j["slo"] = {{"ttft_ms", slo.ttft_ms ? nlohmann::json(*slo.ttft_ms) : nullptr},
              {"tpot_ms", slo.tpot_ms ? nlohmann::json(*slo.tpot_ms) : nullptr},
              {"e2el_ms", slo.e2e_ms ? nlohmann::json(*slo.e2e_ms) : nullptr}};
  // A few distinct error messages, so a failed run says why.
  std::set<std::string> errors;
  for (const RequestTimeline& t : r.timelines) {
    if (!t.ok && errors.size() < 5) errors.insert(t.status + ": " + t.error);
  }
  j["errors"] = errors;
  nlohmann::json per_workload = nlohmann::json::object();
  for (const auto& [workload, metrics] : r.per_workload) {
    per_workload[workload] = MetricsToJson(metrics);
  }
  j["per_workload"] = per_workload;
  return j;
}

std::string FormatRunTable(const RunReport& r, const Slo& slo) {
  const RunMetrics& m = r.metrics;
  std::string out;
  Header(out, " Serving Benchmark Result ", '=');
  Line(out, "Run", r.name);
  Line(out, "Successful requests", absl::StrCat(m.completed));
  Line(out, "Failed requests", absl::StrCat(m.failed));
  for (const auto& [status, count] : m.failures_by_status) {
    Line(out, "  " + status, absl::StrCat(count));
  }
  if (r.not_sent > 0) Line(out, "Not sent (duration bound)", absl::StrCat(r.not_sent));
  Line(out, "Benchmark duration (s)", absl::StrFormat("%.2f", m.duration_s));
  Line(out, "Total input tokens", absl::StrCat(m.input_tokens));
  Line(out, "  text / image / video tokens",
       absl::StrCat(m.input_text_tokens, " / ", m.input_image_tokens, " / ", m.input_video_tokens));
  Line(out, "  served from the prefix cache", absl::StrCat(m.cached_tokens));
  Line(out, "Total generated tokens", absl::StrCat(m.output_tokens));
  Line(out, "Request throughput (req/s)", Ms(m.request_throughput));
  if (m.goodput) Line(out, "Request goodput (req/s)", Ms(*m.goodput));
  Line(out, "Output token throughput (tok/s)", Ms(m.output_throughput));
  Line(out, "Total token throughput (tok/s)", Ms(m.total_token_throughput));
  SummaryLines(out, "Time to First Token", "TTFT", m.ttft_ms);
  SummaryLines(out, "Time per Output Token (excl. 1st token)", "TPOT", m.tpot_ms);
  SummaryLines(out, "Inter-token Latency", "ITL", m.itl_ms);
  SummaryLines(out, "End-to-end Latency", "E2EL", m.e2e_ms);
  if (slo.any()) {
    Header(out, "Goodput SLOs", '-');
    if (slo.ttft_ms) Line(out, "TTFT <= (ms)", Ms(*slo.ttft_ms));
    if (slo.tpot_ms) Line(out, "TPOT <= (ms)", Ms(*slo.tpot_ms));
    if (slo.e2e_ms) Line(out, "E2EL <= (ms)", Ms(*slo.e2e_ms));
    Line(out, "Requests meeting them", absl::StrCat(m.good_requests.value_or(0)));
  }
  Header(out, "", '=');
  return out;
}

std::string FormatSweepTable(const std::vector<RunReport>& reports) {
  std::string out = absl::StrFormat("%-8s %6s %6s %6s %9s %11s %10s %10s %10s %10s %10s\n", "rate",
                                    "conc", "ok", "fail", "req/s", "out tok/s", "TTFT mean",
                                    "TTFT p99", "TPOT mean", "TPOT p99", "E2E mean");
  for (const RunReport& r : reports) {
    const RunMetrics& m = r.metrics;
    absl::StrAppendFormat(&out, "%-8s %6s %6d %6d %9s %11s %10s %10s %10s %10s %10s\n",
                          RateToString(r.request_rate),
                          r.max_concurrency > 0 ? absl::StrCat(r.max_concurrency) : "-",
                          m.completed, m.failed, Ms(m.request_throughput), Ms(m.output_throughput),
                          Ms(m.ttft_ms.mean), Ms(m.ttft_ms.p99), Ms(m.tpot_ms.mean),
                          Ms(m.tpot_ms.p99), Ms(m.e2e_ms.mean));
  }
  out += "(latencies in ms)\n";
  return out;
}

std::string CsvHeader() {
  return "run,index,workload,status,send_s,ttft_ms,tpot_ms,mean_itl_ms,e2el_ms,output_tokens,"
         "prompt_text_tokens,image_tokens,video_tokens,cached_tokens,responses,error\n";
}

std::string CsvRows(const RunReport& r, int run_index) {
  std::string out;
  for (const RequestTimeline& t : r.timelines) {
    const std::optional<double> ttft = Ttft(t);
    const std::optional<double> tpot = Tpot(t);
    const std::vector<double> itls = Itls(t);
    double itl_sum = 0;
    for (double v : itls) itl_sum += v;
    auto ms = [](std::optional<double> s) {
      return s ? absl::StrFormat("%.3f", *s * 1e3) : std::string();
    };
    absl::StrAppend(&out, run_index, ",", t.index, ",", t.workload, ",", t.status, ",",
                    absl::StrFormat("%.6f", t.send_s), ",", t.ok ? ms(ttft) : "", ",",
                    t.ok ? ms(tpot) : "", ",",
                    t.ok && !itls.empty()
                        ? ms(itl_sum / static_cast<double>(itls.size()))
                        : std::string(),
                    ",", ms(E2e(t)), ",", t.output_tokens, ",", t.prompt_text_tokens, ",",
                    t.image_tokens, ",", t.video_tokens, ",", t.cached_tokens, ",", t.responses,
                    ",", CsvField(t.error), "\n");
  }
  return out;
}

}  // namespace ovserve::bench
