// The table `privprobe study` prints at the end, from results.json alone (a cached rerun prints
// the same table).
#include <string>

#include "study/results_builder.h"

using nlohmann::json;

namespace privprobe {
namespace {

bool has(const json& j, const char* key) { return j.is_object() && j.contains(key) && j[key].is_number(); }

std::string fig(const json& j, const char* key, int digits = 3, bool sign = false) {
  if (!has(j, key)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, sign ? "%+.*f" : "%.*f", digits, j[key].get<double>());
  return buffer;
}

// "0.512 [0.470,0.551] L3"
std::string probe_cell(const json& p) {
  if (!p.is_object() || !has(p, "accuracy")) return "-";
  return fig(p, "accuracy") + " [" + fig(p, "ci_low") + "," + fig(p, "ci_high") + "] L" + std::to_string(p["best_layer"].get<int>());
}

// "+0.012 [-0.020,+0.044] p=1.000 L3"
std::string difference_cell(const json& d, const char* layer_key) {
  if (!d.is_object() || !has(d, "difference")) return "-";
  std::string cell = fig(d, "difference", 3, true) + " [" + fig(d, "ci_low", 3, true) + "," + fig(d, "ci_high", 3, true) +
                     "] p=" + fig(d, "p_holm");
  if (d.contains(layer_key) && d[layer_key].is_number()) cell += " L" + std::to_string(d[layer_key].get<int>());
  return cell;
}

}  // namespace

void print_study_table(const json& r, std::FILE* out) {
  std::fprintf(out, "\nprivprobe study (%s, style %s%s)\n", r.value("privprobe", "").c_str(), r.value("style", "").c_str(),
               r.value("quick", false) ? ", --quick" : "");
  std::fprintf(out, "probes: best layer, 95%% interval; 'profile' folds hold out whole profiles (lead), 'image' folds "
                    "only images (confounded by identity)\n\n");
  std::fprintf(out, "%-12s %-14s %-26s %-26s %-34s %-7s %-8s %-6s %-11s %-6s\n", "model", "rate (real)", "probe: profile",
               "probe: image", "vs base (profile, Holm p)", "select", "contains", "member", "exposure", "VQA");
  for (const json& m : r.at("models")) {
    std::string rate = "-";
    if (has(m, "rate")) rate = fig(m, "rate", 2) + " (" + fig(m, "realized_rate", 3) + ")";
    const json& profile = m["probe"]["profile"];
    const json& ask = m["ask"];
    std::fprintf(out, "%-12s %-14s %-26s %-26s %-34s %-7s %-8s %-6s %-11s %-6s\n", m.value("id", "").c_str(), rate.c_str(),
                 probe_cell(profile).c_str(), probe_cell(m["probe"]["image"]).c_str(), difference_cell(m["vs_base"], "layer").c_str(),
                 fig(profile, "mean_selectivity", 3, true).c_str(), fig(ask, "contains_rate").c_str(),
                 fig(ask, "calibrated_accuracy").c_str(), (fig(ask, "exposure_seen", 2) + "/" + fig(ask, "exposure_unseen", 2)).c_str(),
                 fig(m["eval"], "accuracy").c_str());
  }
  std::fprintf(out, "\n(select: mean selectivity over layers; contains: answers naming the user; member: calibrated "
                    "membership accuracy; exposure: seen/unseen, bits)\n\ncomparisons (profile-grouped folds):\n");
  for (const json& c : r.at("comparisons")) {
    std::fprintf(out, "  %-18s %-24s %s%s\n", c.value("name", "").c_str(), (c.value("tuned", "") + " - " + c.value("base", "")).c_str(),
                 difference_cell(c, "best_layer").c_str(), c.value("significant", false) ? "  significant" : "");
  }
  const json& p = r.at("perception");
  std::fprintf(out, "\nperception: the base's vision tower tells U1 from U2 pictures at %s [%s, %s] (layer %s, control %s)\n",
               fig(p, "accuracy").c_str(), fig(p, "ci_low").c_str(), fig(p, "ci_high").c_str(),
               has(p, "layer") ? std::to_string(p["layer"].get<int>()).c_str() : "-", fig(p, "control").c_str());
  if (p.contains("naming") && p["naming"].is_object()) {
    std::fprintf(out, "naming: the base names the U0 user drawn on a new image %s of the time (chance %s)\n",
                 fig(p["naming"], "accuracy").c_str(), fig(p["naming"], "chance").c_str());
  }
  const json& control = r.at("positive_control");
  if (control.value("present", false)) {
    const bool detected = control["detected"].is_boolean() && control["detected"].get<bool>();
    const json& output_level = control.contains("output_level") ? control["output_level"] : json();
    const bool revealed = output_level.is_object() && output_level.value("revealed", false);
    std::fprintf(out, "positive control: %s by the probes; its outputs %s\n", detected ? "detected" : "NOT detected",
                 revealed ? "reveal it (calibrated membership above chance)" : "do not reveal it");
  } else {
    std::fprintf(out, "positive control: not run\n");
  }
  const json& f = r.at("findings");
  std::fprintf(out, "conclusion: %s\n%s\n", f.value("conclusion", "").c_str(), f.value("summary", "").c_str());
}

}  // namespace privprobe
