// The invisible-mode reconstruction and selection of na64reco in C++ for ROOT RDataFrame.
//
// A port, statement by statement, of the per-event code that `na64 run --analysis invisible`
// executes (na64reco/reco/calorimeter_kernels.py, calorimeters.py, showershape.py,
// tracking.py + tracking_kernels.py, na64reco/trigger.py), restricted to the quantities the cut
// set uses. Arithmetic keeps the same precision as the Python/numba code: float for the
// calorimeter energies (raw data are float32), double for tracking and the shower chi2, the same
// summation order (numpy's pairwise float32 sums), no FMA contraction. The constants (one
// calibration set, one period) are set from Python with na64rdf::set(name, values) before the
// event loop; benchmarks/bench_rdf.py does that and generates na64rdf::cut_bits.
#include <ROOT/RVec.hxx>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#pragma cling optimize(2)
#pragma STDC FP_CONTRACT OFF

namespace na64rdf {

using ROOT::RVec;

struct Det {  // per-channel constants of one calorimeter-type detector (kernel form)
   std::vector<float> ped, gain, t0, thr, sthr;
   std::vector<int> usable, good;
   std::vector<float> sat;  // raw amplitude at or above which a channel counts as saturated
   float window = 0.f;
};

struct Consts {
   Det ecal, hcal, srd, veto, counter;
   float gate = 0.f;
   int k = 2, nx = 6, ny = 6, hcal_inline = 4;
   double pitch = 0.;
   float veto_ratio = 0.f;
   float trig_counter_min = 0.f, trig_v1_min = 0.f, trig_ps_min = 0.f, trig_ecal_max = 0.f;
   unsigned trigger_physics = 1;
   int beam_x = 0, beam_y = 0;
   // shower profile: edges (nb + 1), mean and floored sigma (nb, nb, 3, 3), usable cells (6, 6)
   std::vector<double> edges, pmean, psigma;
   std::vector<int> usable_cells;
   int nb = 0;
   // tracking
   std::vector<double> mm_pitch, mm_z, mm_t0, mm_window, mm_nch;
   std::vector<int> mm_up;
   double split = 0., min_charge = 0.;
   std::vector<double> st_pitch, st_z, st_lo, st_hi, st_nch;
   int up0 = 0, up1 = 0, dn0 = 0, dn1 = 0;
   double kick_z = 0.;
   std::vector<double> cuts;  // the 10 road / sigma constants of track_events
   double nom_sx_up = 0., nom_sx_dn = 0., rigidity_bl = 0.;
};

Consts gC;

template <class T>
std::vector<T> conv(const std::vector<double> &v)
{
   return std::vector<T>(v.begin(), v.end());
}

// Set one constant (vectors as lists of doubles: float32 values convert back exactly).
void set(const std::string &name, const std::vector<double> &v)
{
   auto det = [&](const std::string &pre, Det &d) {
      const std::string f = name.substr(pre.size());
      if (f == "ped") d.ped = conv<float>(v);
      else if (f == "gain") d.gain = conv<float>(v);
      else if (f == "t0") d.t0 = conv<float>(v);
      else if (f == "thr") d.thr = conv<float>(v);
      else if (f == "sthr") d.sthr = conv<float>(v);
      else if (f == "usable") d.usable = conv<int>(v);
      else if (f == "good") d.good = conv<int>(v);
      else if (f == "sat") d.sat = conv<float>(v);
      else if (f == "window") d.window = (float)v.at(0);
      else throw std::runtime_error("na64rdf::set: unknown " + name);
   };
   const std::string dets[] = {"ecal_", "hcal_", "srd_", "veto_", "counter_"};
   Det *ptr[] = {&gC.ecal, &gC.hcal, &gC.srd, &gC.veto, &gC.counter};
   for (int i = 0; i < 5; ++i)
      if (name.rfind(dets[i], 0) == 0) return det(dets[i], *ptr[i]);
   auto s = [&]() { return v.at(0); };
   if (name == "gate") gC.gate = (float)s();
   else if (name == "k") gC.k = (int)s();
   else if (name == "nx") gC.nx = (int)s();
   else if (name == "ny") gC.ny = (int)s();
   else if (name == "inline_hcal_modules") gC.hcal_inline = (int)s();
   else if (name == "pitch") gC.pitch = s();
   else if (name == "pmt_ratio_veto") gC.veto_ratio = (float)s();
   else if (name == "trig_counter_min") gC.trig_counter_min = (float)s();
   else if (name == "trig_v1_min") gC.trig_v1_min = (float)s();
   else if (name == "trig_ps_min") gC.trig_ps_min = (float)s();
   else if (name == "trig_ecal_max") gC.trig_ecal_max = (float)s();
   else if (name == "trigger_physics") gC.trigger_physics = (unsigned)s();
   else if (name == "beam_cell") { gC.beam_x = (int)v.at(0); gC.beam_y = (int)v.at(1); }
   else if (name == "edges") { gC.edges = v; gC.nb = (int)v.size() - 1; }
   else if (name == "pmean") gC.pmean = v;
   else if (name == "psigma") gC.psigma = v;
   else if (name == "usable_cells") gC.usable_cells = conv<int>(v);
   else if (name == "mm_pitch") gC.mm_pitch = v;
   else if (name == "mm_z") gC.mm_z = v;
   else if (name == "mm_t0") gC.mm_t0 = v;
   else if (name == "mm_window") gC.mm_window = v;
   else if (name == "mm_nch") gC.mm_nch = v;
   else if (name == "mm_up") gC.mm_up = conv<int>(v);
   else if (name == "split") gC.split = s();
   else if (name == "min_charge") gC.min_charge = s();
   else if (name == "st_pitch") gC.st_pitch = v;
   else if (name == "st_z") gC.st_z = v;
   else if (name == "st_lo") gC.st_lo = v;
   else if (name == "st_hi") gC.st_hi = v;
   else if (name == "st_nch") gC.st_nch = v;
   else if (name == "pairs") { gC.up0 = (int)v.at(0); gC.up1 = (int)v.at(1); gC.dn0 = (int)v.at(2); gC.dn1 = (int)v.at(3); }
   else if (name == "kick_z") gC.kick_z = s();
   else if (name == "cuts") gC.cuts = v;
   else if (name == "nominal") { gC.nom_sx_up = v.at(0); gC.nom_sx_dn = v.at(1); }
   else if (name == "rigidity_bl") gC.rigidity_bl = s();
   else throw std::runtime_error("na64rdf::set: unknown " + name);
}

// The variables of the cut set (types as numpy's in reconstruct_event).
struct Reco {
   bool trigger_physics = false, trigger_emulated = false, in_beam_cell = false;
   double momentum = 0.;
   float srd_e = 0.f, ecal_e = 0.f, ecal_ps = 0.f, ecal_out_of_time = 0.f;
   float hcal_e = 0.f, hcal_out_of_time = 0.f, shower_chi2 = 0.f, veto_e = 0.f;
   float hcal_inline_min = 0.f, hcal_inline_max = 0.f;
   int n_mm_extra_upstream = 0, n_mm_extra_downstream = 0, n_straw_extra = 0;
   int n_saturated = 0;
};

// numpy's float32/float64 add.reduce of buf[0:n] (contiguous): 0 + pairwise, n <= 128
template <class T>
inline T pairwise(const T *buf, int n)
{
   T res = 0;
   if (n < 8) {
      for (int i = 0; i < n; ++i) res = res + buf[i];
      return res;
   }
   T r0 = buf[0], r1 = buf[1], r2 = buf[2], r3 = buf[3], r4 = buf[4], r5 = buf[5], r6 = buf[6],
     r7 = buf[7];
   int i = 8;
   const int top = n - n % 8;
   while (i < top) {
      r0 = r0 + buf[i];
      r1 = r1 + buf[i + 1];
      r2 = r2 + buf[i + 2];
      r3 = r3 + buf[i + 3];
      r4 = r4 + buf[i + 4];
      r5 = r5 + buf[i + 5];
      r6 = r6 + buf[i + 6];
      r7 = r7 + buf[i + 7];
      i += 8;
   }
   T s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
   while (i < n) {
      s = s + buf[i];
      ++i;
   }
   return res + s;
}

struct Chan {
   float e, dt;
   bool bad, pulse, strong;
};

inline Chan channel(float a, float tt, const Det &d, int j)
{
   Chan c;
   c.e = (a - d.ped[j]) * d.gain[j];
   c.dt = std::fabs(tt - d.t0[j]);
   c.bad = !(std::isfinite(a) && std::isfinite(tt));
   if (c.bad) {
      c.e = 0.f;
      c.pulse = c.strong = false;
      return c;
   }
   c.pulse = d.usable[j] && c.e > d.thr[j];
   c.strong = c.pulse && c.e > d.sthr[j];
   return c;
}

// channel_kernel of a small detector: in-time and in-gate energies
inline void small(const RVec<float> &amp, const RVec<float> &t, const Det &d, float *e_in,
                  float *e_gate)
{
   const int m = (int)amp.size();
   for (int c = 0; c < m; ++c) {
      Chan ch = channel(amp[c], t[c], d, c);
      const bool it = ch.pulse && ch.dt < d.window;
      e_in[c] = it ? ch.e : 0.f;
      e_gate[c] = (ch.dt < gC.gate || !ch.pulse) ? ch.e : 0.f;
   }
}

// ---- calorimeters + shower chi2 + trigger emulation --------------------------------------------
inline void calorimeters(Reco &r, const RVec<float> &ecal_amp, const RVec<float> &ecal_t,
                         const RVec<float> &hcal_amp, const RVec<float> &hcal_t,
                         const RVec<float> &srd_amp, const RVec<float> &srd_t,
                         const RVec<float> &veto_amp, const RVec<float> &veto_t,
                         const RVec<float> &counter_amp, const RVec<float> &counter_t)
{
   const Consts &C = gC;
   // ECAL (ecal_kernel)
   const int nx = C.nx, ny = C.ny, nc = nx * ny, nch = 2 * nc;
   float energy[128], e_it[128], buf_o[128], buf_g[128], cell_out[64], cell[64], w[9];
   bool quiet[128];
   const Det &E = C.ecal;
   for (int j = 0; j < nch; ++j) {
      Chan ch = channel(ecal_amp[j], ecal_t[j], E, j);
      const bool it = ch.pulse && ch.dt < E.window;
      energy[j] = ch.e;
      quiet[j] = E.good[j] && !ch.pulse;
      e_it[j] = it ? ch.e : 0.f;
      buf_o[j] = (ch.strong && !it) ? ch.e : 0.f;
      buf_g[j] = (ch.dt < C.gate || !ch.pulse) ? ch.e : 0.f;
   }
   float best = 0.f;
   int bc = -1;
   for (int c = 0; c < nc; ++c) {
      float v = 0.f;
      for (int j = c; j < nch; j += nc) v = v + e_it[j];
      if (bc < 0 || v > best) {
         best = v;
         bc = c;
      }
   }
   int hx = -1, hy = -1;
   if (best > 0) {
      hx = bc / ny;
      hy = bc % ny;
   }
   for (int j = 0; j < nch; ++j)
      if (quiet[j]) {
         const int c = j % nc;
         if (std::abs(c / ny - hx) <= C.k && std::abs(c % ny - hy) <= C.k) e_it[j] = energy[j];
      }
   for (int x = 0; x < nx; ++x)
      for (int y = 0; y < ny; ++y) {
         float v = 0.f;
         for (int j = x * ny + y; j < nch; j += nc) v = v + e_it[j];
         cell_out[x * ny + y] = v;
         cell[x * ny + y] = std::max(v, 0.f);
      }
   const float a0 = pairwise(e_it, nc), a1 = pairwise(e_it + nc, nc);
   r.ecal_ps = a0;
   r.ecal_e = a0 + a1;
   r.ecal_out_of_time = pairwise(buf_o, nch);
   const float trig_ps = pairwise(buf_g, nc);
   const float trig_ecal = trig_ps + pairwise(buf_g + nc, nc);
   const int jx = std::max(hx, 0), jy = std::max(hy, 0);
   for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
         const int x = jx + a - 1, y = jy + b - 1;
         w[a * 3 + b] = (0 <= x && x < nx && 0 <= y && y < ny) ? cell[x * ny + y] : 0.f;
      }
   const float tot = pairwise(w, 9);
   const float safe = tot > 0 ? tot : 1.f;
   float dx = 0.f, dy = 0.f;
   for (int a = 0; a < 3; ++a) {
      float rs = 0.f, cs = 0.f;
      for (int b = 0; b < 3; ++b) {
         rs = rs + w[a * 3 + b];
         cs = cs + w[b * 3 + a];
      }
      const float off = (float)(a - 1);
      const float prs = rs * off, pcs = cs * off;
      dx = dx + prs;
      dy = dy + pcs;
   }
   dx = dx / safe;
   dy = dy / safe;
   const double cx0 = (nx - 1) / 2.0, cy0 = (ny - 1) / 2.0;
   float cog_x = 0.f, cog_y = 0.f;
   if (hx >= 0) {
      const double ux = (hx - cx0) + (double)dx, uy = (hy - cy0) + (double)dy;
      cog_x = (float)(ux * C.pitch);
      cog_y = (float)(uy * C.pitch);
   }
   r.in_beam_cell = hx == C.beam_x && hy == C.beam_y;

   // shower chi2 (showershape.shower_chi2 on the unclipped in-time cell energies)
   {
      float win[9];
      double pull2[9];
      const int ix = std::min(std::max(hx, 0), nx - 1), iy = std::min(std::max(hy, 0), ny - 1);
      bool use[9];
      for (int a = 0; a < 3; ++a)
         for (int b = 0; b < 3; ++b) {
            const int x = ix + a - 1, y = iy + b - 1;
            const bool in = 0 <= x && x < nx && 0 <= y && y < ny;
            win[a * 3 + b] = in ? cell_out[x * ny + y] : 0.f;
            use[a * 3 + b] = in && C.usable_cells[x * ny + y];
         }
      const float wt = pairwise(win, 9);
      const float denom = wt > 0 ? wt : 1.f;
      const double hdx = (double)hx - cx0, hdy = (double)hy - cy0;
      const double px = hdx * C.pitch, py = hdy * C.pitch;
      const double ox = (double)cog_x - px, oy = (double)cog_y - py;
      auto bin = [&](double o) {
         const int i = (int)(std::upper_bound(C.edges.begin(), C.edges.end(), o) - C.edges.begin()) - 1;
         return std::min(std::max(i, 0), C.nb - 1);
      };
      const int bx = bin(ox), by = bin(oy);
      const double *mean = &C.pmean[(bx * C.nb + by) * 9];
      const double *sig = &C.psigma[(bx * C.nb + by) * 9];
      int ndf = 0;
      for (int c = 0; c < 9; ++c) {
         const float frac = win[c] / denom;
         const double d = ((double)frac - mean[c]) / sig[c];
         pull2[c] = use[c] ? d * d : 0.0;
         ndf += use[c];
      }
      const double chi2 = pairwise(pull2, 9) / (double)std::max(ndf, 1);
      const bool empty = wt <= 0 || hx < 0 || ndf == 0;
      r.shower_chi2 = empty ? 1.0e3f : (float)chi2;
   }

   // HCAL (hcal_kernel): module sums, total, out of time
   {
      const Det &H = C.hcal;
      const int nmod = 4, m = (int)hcal_amp.size() / nmod;
      float buf_a[64], bo[256], module[16];
      float total = 0.f;
      for (int mod = 0; mod < nmod; ++mod) {
         for (int c = 0; c < m; ++c) {
            const int j = mod * m + c;
            Chan ch = channel(hcal_amp[j], hcal_t[j], H, j);
            const bool it = ch.pulse && ch.dt < H.window;
            buf_a[c] = it ? ch.e : 0.f;
            bo[j] = (ch.strong && !it) ? ch.e : 0.f;
         }
         module[mod] = pairwise(buf_a, m);
         total = total + module[mod];
      }
      float lo = module[0], hi = module[0];  // the modules in line with the beam
      for (int mod = 1; mod < C.hcal_inline; ++mod) {
         lo = std::min(lo, module[mod]);
         hi = std::max(hi, module[mod]);
      }
      r.hcal_inline_min = lo;
      r.hcal_inline_max = hi;
      r.hcal_e = total;
      r.hcal_out_of_time = pairwise(bo, nmod * m);
   }
   // VETO (sqrt(a1 a2) rule, largest module), SRD (sum), counters (trigger sums)
   {
      float e_in[8], e_gate[8];
      small(veto_amp, veto_t, C.veto, e_in, e_gate);
      float vmax = 0.f;
      for (int mod = 0; mod < 3; ++mod) {
         const float a1 = std::max(e_in[2 * mod], 0.f), a2 = std::max(e_in[2 * mod + 1], 0.f);
         const float lo = std::min(a1, a2), hi = std::max(a1, a2);
         const float lim = C.veto_ratio * hi;
         const float v = lo < lim ? hi : std::sqrt(lo * hi);
         vmax = mod == 0 ? v : std::max(vmax, v);
      }
      r.veto_e = vmax;
      small(srd_amp, srd_t, C.srd, e_in, e_gate);
      r.srd_e = pairwise(e_in, (int)srd_amp.size());
      small(counter_amp, counter_t, C.counter, e_in, e_gate);
      const bool s_counters = e_gate[0] > C.trig_counter_min && e_gate[1] > C.trig_counter_min &&
                              e_gate[2] > C.trig_counter_min;
      const bool no_v1 = !(e_gate[3] > C.trig_v1_min);
      r.trigger_emulated =
         s_counters && no_v1 && trig_ps > C.trig_ps_min && trig_ecal < C.trig_ecal_max;
   }
}

// ---- tracking (cluster_hits + track_events, the outputs the cuts use) --------------------------
struct Predict {
   double u, road;
};

inline Predict predict(const bool has[2][2], const double seg_u0[2][2], const double seg_slope[2][2],
                       const double ukick[2][2], double z_first, int p, int side, double z,
                       double track_road, double beam_road)
{
   if (has[p][side]) {
      const double dz = z - z_first;
      const double du = seg_slope[p][side] * dz;
      return {seg_u0[p][side] + du, track_road};
   }
   const int other = 1 - side;
   if (has[p][other]) {
      const double dz = z - gC.kick_z;
      const double du = seg_slope[p][other] * dz;
      return {ukick[p][other] + du, beam_road};
   }
   return {0.0, beam_road};
}

constexpr int kMaxMM = 16, kMaxST = 8;

inline void tracking(Reco &r, const RVec<unsigned char> &mm_station,
                     const RVec<unsigned char> &mm_plane, const RVec<unsigned short> &mm_strip,
                     const RVec<float> &mm_amp, const RVec<float> &mm_t,
                     const RVec<unsigned char> &st_station, const RVec<unsigned char> &st_plane,
                     const RVec<unsigned short> &st_wire, const RVec<float> &st_t)
{
   const Consts &C = gC;
   const int nh = (int)mm_station.size();
   thread_local std::vector<unsigned char> c_st, c_pl, assigned;
   thread_local std::vector<double> c_u;
   thread_local std::vector<char> c_in;
   c_st.resize(nh);
   c_pl.resize(nh);
   c_u.resize(nh);
   c_in.resize(nh);
   assigned.assign(nh, 0);
   int nc = 0;
   // cluster_hits
   int b0 = 0;
   while (b0 < nh) {
      const int s = mm_station[b0], p = mm_plane[b0];
      int b1 = b0 + 1;
      while (b1 < nh && mm_station[b1] == s && mm_plane[b1] == p) ++b1;
      const double half = 0.5 * C.mm_nch[s];
      for (int i = b0; i < b1; ++i) {
         if (assigned[i]) continue;
         const float t_seed = mm_t[i];
         double sq = 0., squ = 0., sqt = 0., su = 0., st_sum = 0.;
         int k = 0;
         long last = (long)mm_strip[i] - 1;
         int j = i;
         while (j < b1 && (long)mm_strip[j] <= last + 1) {
            if (!assigned[j] && (long)mm_strip[j] == last + 1 &&
                std::fabs(mm_t[j] - t_seed) <= C.split) {
               assigned[j] = 1;
               const double q = std::max((double)mm_amp[j], 0.0);
               const double u = ((double)mm_strip[j] + 0.5 - half) * C.mm_pitch[s];
               const double qu = q * u, qt = q * mm_t[j];
               sq += q;
               squ += qu;
               sqt += qt;
               su += u;
               st_sum += mm_t[j];
               ++k;
               last = (long)mm_strip[j];
            }
            ++j;
         }
         double cu, ct;
         if (sq > 0.0) {
            cu = squ / sq;
            ct = sqt / sq;
         } else {
            cu = su / k;
            ct = st_sum / k;
         }
         c_st[nc] = (unsigned char)s;
         c_pl[nc] = (unsigned char)p;
         c_u[nc] = cu;
         c_in[nc] = (std::fabs(ct - C.mm_t0[s]) < C.mm_window[s]) && (sq >= C.min_charge);
         ++nc;
      }
      b0 = b1;
   }
   // track_events
   const int n_mm = (int)C.mm_z.size(), n_st = (int)C.st_z.size();
   const double s_slope_up = C.cuts[0], s_pos = C.cuts[1], s_match = C.cuts[2],
                s_slope_match_y = C.cuts[3], s_slope_down = C.cuts[4], max_mismatch = C.cuts[5],
                track_road = C.cuts[6], beam_road = C.cuts[7], straw_track_road = C.cuts[8],
                straw_beam_road = C.cuts[9];
   int start[kMaxMM][2] = {}, stop[kMaxMM][2] = {}, used[kMaxMM][2], ncl[kMaxMM][2] = {};
   for (int s = 0; s < n_mm; ++s) used[s][0] = used[s][1] = -1;
   int n_intime = 0;
   for (int c = 0; c < nc; ++c) {
      const int s = c_st[c], p = c_pl[c];
      if (stop[s][p] == 0) start[s][p] = c;
      stop[s][p] = c + 1;
      if (c_in[c]) {
         ncl[s][p] += 1;
         ++n_intime;
      }
   }
   int status = 0;
   if (n_intime == 0) status |= 1;
   bool has[2][2];
   double seg_u0[2][2] = {}, seg_slope[2][2] = {}, slope_out[2][2], ukick[2][2];
   const int pair_st[2][2] = {{C.up0, C.up1}, {C.dn0, C.dn1}};
   for (int p = 0; p < 2; ++p)
      for (int side = 0; side < 2; ++side) {
         const int sa = pair_st[side][0], sb = pair_st[side][1];
         const double za = C.mm_z[sa], zb = C.mm_z[sb];
         double best = std::numeric_limits<double>::infinity(), bslope = 0., bkick = 0.;
         int ia = -1, ib = -1;
         for (int ca = start[sa][p]; ca < stop[sa][p]; ++ca) {
            if (!c_in[ca]) continue;
            for (int cb = start[sb][p]; cb < stop[sb][p]; ++cb) {
               if (!c_in[cb]) continue;
               const double slope = (c_u[cb] - c_u[ca]) / (zb - za);
               const double dzk = C.kick_z - za;
               const double duk = slope * dzk;
               const double uk = c_u[ca] + duk;
               double chi2;
               if (side == 0) {
                  const double x1 = slope / s_slope_up, x2 = uk / s_pos;
                  const double x1s = x1 * x1, x2s = x2 * x2;
                  chi2 = x1s + x2s;
               } else if (has[p][0]) {
                  const double x1 = (uk - ukick[p][0]) / s_match;
                  chi2 = x1 * x1;
                  if (p == 1) {
                     const double x2 = (slope - seg_slope[p][0]) / s_slope_match_y;
                     const double x2s = x2 * x2;
                     chi2 += x2s;
                  }
               } else {
                  const double x1 = uk / s_pos, x2 = slope / s_slope_down;
                  const double x1s = x1 * x1, x2s = x2 * x2;
                  chi2 = x1s + x2s;
               }
               if (chi2 < best) {
                  best = chi2;
                  ia = ca;
                  ib = cb;
                  bslope = slope;
                  bkick = uk;
               }
            }
         }
         has[p][side] = ia >= 0;
         if (ia >= 0) {
            used[sa][p] = ia;
            used[sb][p] = ib;
            seg_u0[p][side] = c_u[ia];
            seg_slope[p][side] = bslope;
            slope_out[p][side] = bslope;
            ukick[p][side] = bkick;
         } else {
            slope_out[p][side] = std::numeric_limits<double>::quiet_NaN();
            ukick[p][side] = std::numeric_limits<double>::quiet_NaN();
         }
      }
   if (!has[0][0]) status |= 2;
   if (!has[0][1]) status |= 4;
   const double mismatch = ukick[0][1] - ukick[0][0];
   if (has[0][0] && has[0][1] && std::fabs(mismatch) > max_mismatch) status |= 8;
   int extra[2] = {0, 0};
   for (int s = 0; s < n_mm; ++s) {
      const int side = C.mm_up[s] ? 0 : 1;
      for (int p = 0; p < 2; ++p) {
         const int n = ncl[s][p];
         if (n == 0) continue;
         int expl = 0;
         if (used[s][p] >= 0) {
            expl = 1;
         } else {
            const Predict pr = predict(has, seg_u0, seg_slope, ukick, C.mm_z[pair_st[side][0]], p,
                                       side, C.mm_z[s], track_road, beam_road);
            double dbest = pr.road;
            for (int c = start[s][p]; c < stop[s][p]; ++c) {
               const double d = std::fabs(c_u[c] - pr.u);
               if (c_in[c] && d < dbest) {
                  expl = 1;
                  dbest = d;
               }
            }
         }
         extra[side] += n - expl;
      }
   }
   r.n_mm_extra_upstream = extra[0];
   r.n_mm_extra_downstream = extra[1];
   // straws
   const int hb = (int)st_station.size();
   double best_d[kMaxST][2];
   int best_n[kMaxST][2], nstraw[kMaxST][2];
   for (int s = 0; s < n_st; ++s)
      for (int p = 0; p < 2; ++p) {
         best_d[s][p] = std::numeric_limits<double>::infinity();
         best_n[s][p] = 0;
         nstraw[s][p] = 0;
      }
   auto intime = [&](int h) {
      const double tt = (double)st_t[h];
      const int s = st_station[h];
      return tt >= C.st_lo[s] && tt <= C.st_hi[s];
   };
   int h = 0;
   while (h < hb) {
      if (!intime(h)) {
         ++h;
         continue;
      }
      const int s = st_station[h], p = st_plane[h];
      const double half = 0.5 * C.st_nch[s];
      int k = 0;
      double su = 0.;
      long last = -10;
      while (h < hb) {
         if (!intime(h)) {
            ++h;
            continue;
         }
         if (k > 0 && (st_station[h] != s || st_plane[h] != p || (long)st_wire[h] != last + 1))
            break;
         const double u = ((double)st_wire[h] + 0.5 - half) * C.st_pitch[s];
         su += u;
         last = (long)st_wire[h];
         ++k;
         ++h;
      }
      nstraw[s][p] += k;
      const Predict pr = predict(has, seg_u0, seg_slope, ukick, C.mm_z[pair_st[1][0]], p, 1,
                                 C.st_z[s], straw_track_road, straw_beam_road);
      const double d = std::fabs(su / k - pr.u);
      if (d < pr.road && d < best_d[s][p]) {
         best_d[s][p] = d;
         best_n[s][p] = k;
      }
   }
   int sextra = 0;
   for (int s = 0; s < n_st; ++s)
      for (int p = 0; p < 2; ++p) sextra += nstraw[s][p] - best_n[s][p];
   r.n_straw_extra = sextra;
   // momentum (tracking.reconstruct_tracks)
   const bool valid = (status & (1 | 2 | 4 | 8)) == 0;
   const double sx_up_m = slope_out[0][0] * 1e-3, sx_dn_m = slope_out[0][1] * 1e-3;
   const double sx_up = sx_up_m + C.nom_sx_up, sx_dn = sx_dn_m + C.nom_sx_dn;
   const double deflection = sx_up - sx_dn;
   const double pgev = valid ? C.rigidity_bl / deflection : std::numeric_limits<double>::quiet_NaN();
   r.momentum = std::fabs(pgev);
}

// usable ECAL and HCAL channels whose ADC saturated (calorimeters.reconstruct_calorimeters)
inline void saturation(Reco &r, const RVec<float> &ecal_amp, const RVec<float> &hcal_amp)
{
   int n = 0;
   for (std::size_t j = 0; j < ecal_amp.size(); ++j)
      n += gC.ecal.usable[j] && ecal_amp[j] >= gC.ecal.sat[j];
   for (std::size_t j = 0; j < hcal_amp.size(); ++j)
      n += gC.hcal.usable[j] && hcal_amp[j] >= gC.hcal.sat[j];
   r.n_saturated = n;
}

Reco reconstruct(unsigned short trigger, const RVec<float> &ecal_amp, const RVec<float> &ecal_t,
                 const RVec<float> &hcal_amp, const RVec<float> &hcal_t, const RVec<float> &srd_amp,
                 const RVec<float> &srd_t, const RVec<float> &veto_amp, const RVec<float> &veto_t,
                 const RVec<float> &counter_amp, const RVec<float> &counter_t,
                 const RVec<unsigned char> &mm_station, const RVec<unsigned char> &mm_plane,
                 const RVec<unsigned short> &mm_strip, const RVec<float> &mm_amp,
                 const RVec<float> &mm_t, const RVec<unsigned char> &st_station,
                 const RVec<unsigned char> &st_plane, const RVec<unsigned short> &st_wire,
                 const RVec<float> &st_t)
{
   Reco r;
   r.trigger_physics = (trigger & gC.trigger_physics) > 0;
   calorimeters(r, ecal_amp, ecal_t, hcal_amp, hcal_t, srd_amp, srd_t, veto_amp, veto_t,
                counter_amp, counter_t);
   saturation(r, ecal_amp, hcal_amp);
   tracking(r, mm_station, mm_plane, mm_strip, mm_amp, mm_t, st_station, st_plane, st_wire, st_t);
   return r;
}

}  // namespace na64rdf
