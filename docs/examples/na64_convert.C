// Example converter: writes the NA64 event tree (schema v1) from C++ with ROOT.
//
// A real converter fills the branch buffers from its decoded DAQ events; this example takes
// its events from an existing event file (any layout the toolkit reads), so that what it
// writes can be compared event by event with the original. Run it with ROOT:
//
//   root -l -b -q 'na64_convert.C("in.root", "out.root", "vector")'
//
// layout "vector":  hits as std::vector<T> branches (mm_strip, ...), no hit counter;
// layout "counted": hits as counted C arrays (nmm/I, mm_strip[nmm]/s, ...);
// layout "p348":    a p348reco-style tree: other branch names, the 5x6 ECAL of 2021-2022
//                   (ECAL_ampl[2][5][6]), ECAL times in TDC counts of 1/8 ns, vector hits;
//                   the toolkit reads it through an input map (docs/real-data.md).
// Every layout writes the metadata TObjString na64_metadata (JSON, schema_version 1).

#include <TFile.h>
#include <TObjString.h>
#include <TString.h>
#include <TTree.h>
#include <TTreeReader.h>
#include <TTreeReaderArray.h>
#include <TTreeReaderValue.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

// Copies a fixed-size array of the input into a buffer of the output.
template <typename T>
void copy_array(TTreeReaderArray<T> &in, T *out, size_t n)
{
   for (size_t i = 0; i < n; ++i)
      out[i] = in[i];
}

// Copies the hits of one field into a vector (vector layout) or a C array (counted layout).
template <typename T>
void copy_hits(TTreeReaderArray<T> &in, std::vector<T> &vec, T *arr, size_t max)
{
   vec.assign(in.begin(), in.end());
   for (size_t i = 0; i < in.GetSize() && i < max; ++i)
      arr[i] = in[i];
}

} // namespace

int na64_convert(const char *input, const char *output, const char *layout = "vector")
{
   const std::string mode(layout);
   const bool vec = mode != "counted";
   const bool p348 = mode == "p348";
   if (mode != "vector" && mode != "counted" && mode != "p348") {
      std::printf("na64_convert: unknown layout %s (vector, counted or p348)\n", layout);
      return 1;
   }
   TFile fin(input, "READ");
   if (fin.IsZombie())
      return 1;
   auto *meta = dynamic_cast<TObjString *>(fin.Get("na64_metadata"));
   if (!meta) {
      std::printf("na64_convert: %s has no na64_metadata\n", input);
      return 1;
   }
   TTreeReader reader("events", &fin);
   TTreeReaderValue<int> run(reader, "run"), spill(reader, "spill");
   TTreeReaderValue<Long64_t> event(reader, "event");
   TTreeReaderValue<unsigned short> trigger(reader, "trigger");
   TTreeReaderArray<float> ecal_amp(reader, "ecal_amp"), ecal_t(reader, "ecal_t");
   TTreeReaderArray<float> hcal_amp(reader, "hcal_amp"), hcal_t(reader, "hcal_t");
   TTreeReaderArray<float> srd_amp(reader, "srd_amp"), srd_t(reader, "srd_t");
   TTreeReaderArray<float> veto_amp(reader, "veto_amp"), veto_t(reader, "veto_t");
   TTreeReaderArray<float> counter_amp(reader, "counter_amp"), counter_t(reader, "counter_t");
   TTreeReaderArray<unsigned char> mm_station(reader, "mm_station"), mm_plane(reader, "mm_plane");
   TTreeReaderArray<unsigned short> mm_strip(reader, "mm_strip");
   TTreeReaderArray<float> mm_amp(reader, "mm_amp"), mm_t(reader, "mm_t");
   TTreeReaderArray<unsigned char> st_station(reader, "st_station"), st_plane(reader, "st_plane");
   TTreeReaderArray<unsigned short> st_wire(reader, "st_wire");
   TTreeReaderArray<float> st_t(reader, "st_t");

   TFile fout(output, "RECREATE");
   TTree tree("events", "NA64 events, schema v1");
   // the buffers of one event; fixed arrays as C arrays in row-major order [section][x][y]
   Int_t b_run = 0, b_spill = 0;
   Long64_t b_event = 0;
   UShort_t b_trigger = 0;
   Float_t b_ecal_amp[2][6][6], b_ecal_t[2][6][6], b_hcal_amp[4][3][3], b_hcal_t[4][3][3];
   Float_t b_srd_amp[3], b_srd_t[3], b_veto_amp[6], b_veto_t[6], b_counter_amp[4], b_counter_t[4];
   Float_t p_ecal_amp[2][5][6], p_ecal_t[2][5][6]; // p348: five columns, time in TDC counts
   const int kMaxHits = 4096;
   Int_t nmm = 0, nst = 0;
   UChar_t a_mm_station[kMaxHits], a_mm_plane[kMaxHits], a_st_station[kMaxHits], a_st_plane[kMaxHits];
   UShort_t a_mm_strip[kMaxHits], a_st_wire[kMaxHits];
   Float_t a_mm_amp[kMaxHits], a_mm_t[kMaxHits], a_st_t[kMaxHits];
   std::vector<unsigned char> v_mm_station, v_mm_plane, v_st_station, v_st_plane;
   std::vector<unsigned short> v_mm_strip, v_st_wire;
   std::vector<float> v_mm_amp, v_mm_t, v_st_t;

   if (p348) {
      tree.Branch("runNo", &b_run, "runNo/I");
      tree.Branch("spillNo", &b_spill, "spillNo/I");
      tree.Branch("eventNo", &b_event, "eventNo/L");
      tree.Branch("trigMask", &b_trigger, "trigMask/s");
      tree.Branch("ECAL_ampl", p_ecal_amp, "ECAL_ampl[2][5][6]/F");
      tree.Branch("ECAL_tdc", p_ecal_t, "ECAL_tdc[2][5][6]/F");
      tree.Branch("HCAL_ampl", b_hcal_amp, "HCAL_ampl[4][3][3]/F");
      tree.Branch("HCAL_time", b_hcal_t, "HCAL_time[4][3][3]/F");
      tree.Branch("SRD_ampl", b_srd_amp, "SRD_ampl[3]/F");
      tree.Branch("SRD_time", b_srd_t, "SRD_time[3]/F");
      tree.Branch("VETO_ampl", b_veto_amp, "VETO_ampl[6]/F");
      tree.Branch("VETO_time", b_veto_t, "VETO_time[6]/F");
      tree.Branch("BEAM_ampl", b_counter_amp, "BEAM_ampl[4]/F");
      tree.Branch("BEAM_time", b_counter_t, "BEAM_time[4]/F");
      tree.Branch("MM_stationID", &v_mm_station);
      tree.Branch("MM_planeID", &v_mm_plane);
      tree.Branch("MM_stripID", &v_mm_strip);
      tree.Branch("MM_ampl", &v_mm_amp);
      tree.Branch("MM_time", &v_mm_t);
      tree.Branch("ST_stationID", &v_st_station);
      tree.Branch("ST_planeID", &v_st_plane);
      tree.Branch("ST_wireID", &v_st_wire);
      tree.Branch("ST_time", &v_st_t);
   } else {
      tree.Branch("run", &b_run, "run/I");
      tree.Branch("spill", &b_spill, "spill/I");
      tree.Branch("event", &b_event, "event/L");
      tree.Branch("trigger", &b_trigger, "trigger/s");
      tree.Branch("ecal_amp", b_ecal_amp, "ecal_amp[2][6][6]/F");
      tree.Branch("ecal_t", b_ecal_t, "ecal_t[2][6][6]/F");
      tree.Branch("hcal_amp", b_hcal_amp, "hcal_amp[4][3][3]/F");
      tree.Branch("hcal_t", b_hcal_t, "hcal_t[4][3][3]/F");
      tree.Branch("srd_amp", b_srd_amp, "srd_amp[3]/F");
      tree.Branch("srd_t", b_srd_t, "srd_t[3]/F");
      tree.Branch("veto_amp", b_veto_amp, "veto_amp[6]/F");
      tree.Branch("veto_t", b_veto_t, "veto_t[6]/F");
      tree.Branch("counter_amp", b_counter_amp, "counter_amp[4]/F");
      tree.Branch("counter_t", b_counter_t, "counter_t[4]/F");
      if (vec) { // std::vector<T> branches: the vector holds its own size, no counter
         tree.Branch("mm_station", &v_mm_station);
         tree.Branch("mm_plane", &v_mm_plane);
         tree.Branch("mm_strip", &v_mm_strip);
         tree.Branch("mm_amp", &v_mm_amp);
         tree.Branch("mm_t", &v_mm_t);
         tree.Branch("st_station", &v_st_station);
         tree.Branch("st_plane", &v_st_plane);
         tree.Branch("st_wire", &v_st_wire);
         tree.Branch("st_t", &v_st_t);
      } else { // counted arrays: the counter branch first, then field[counter]/type
         tree.Branch("nmm", &nmm, "nmm/I");
         tree.Branch("mm_station", a_mm_station, "mm_station[nmm]/b");
         tree.Branch("mm_plane", a_mm_plane, "mm_plane[nmm]/b");
         tree.Branch("mm_strip", a_mm_strip, "mm_strip[nmm]/s");
         tree.Branch("mm_amp", a_mm_amp, "mm_amp[nmm]/F");
         tree.Branch("mm_t", a_mm_t, "mm_t[nmm]/F");
         tree.Branch("nst", &nst, "nst/I");
         tree.Branch("st_station", a_st_station, "st_station[nst]/b");
         tree.Branch("st_plane", a_st_plane, "st_plane[nst]/b");
         tree.Branch("st_wire", a_st_wire, "st_wire[nst]/s");
         tree.Branch("st_t", a_st_t, "st_t[nst]/F");
      }
   }

   Long64_t n = 0;
   while (reader.Next()) {
      b_run = *run;
      b_spill = *spill;
      b_event = *event;
      b_trigger = *trigger;
      copy_array(ecal_amp, &b_ecal_amp[0][0][0], 72);
      copy_array(ecal_t, &b_ecal_t[0][0][0], 72);
      copy_array(hcal_amp, &b_hcal_amp[0][0][0], 36);
      copy_array(hcal_t, &b_hcal_t[0][0][0], 36);
      copy_array(srd_amp, b_srd_amp, 3);
      copy_array(srd_t, b_srd_t, 3);
      copy_array(veto_amp, b_veto_amp, 6);
      copy_array(veto_t, b_veto_t, 6);
      copy_array(counter_amp, b_counter_amp, 4);
      copy_array(counter_t, b_counter_t, 4);
      for (int s = 0; s < 2; ++s)
         for (int x = 0; x < 5; ++x)
            for (int y = 0; y < 6; ++y) {
               p_ecal_amp[s][x][y] = b_ecal_amp[s][x][y];
               p_ecal_t[s][x][y] = b_ecal_t[s][x][y] * 8.0f; // 1/8 ns TDC counts (exact)
            }
      nmm = mm_strip.GetSize();
      nst = st_wire.GetSize();
      if (nmm > kMaxHits || nst > kMaxHits) {
         std::printf("na64_convert: more than %d hits in entry %lld\n", kMaxHits, n);
         return 1;
      }
      copy_hits(mm_station, v_mm_station, a_mm_station, kMaxHits);
      copy_hits(mm_plane, v_mm_plane, a_mm_plane, kMaxHits);
      copy_hits(mm_strip, v_mm_strip, a_mm_strip, kMaxHits);
      copy_hits(mm_amp, v_mm_amp, a_mm_amp, kMaxHits);
      copy_hits(mm_t, v_mm_t, a_mm_t, kMaxHits);
      copy_hits(st_station, v_st_station, a_st_station, kMaxHits);
      copy_hits(st_plane, v_st_plane, a_st_plane, kMaxHits);
      copy_hits(st_wire, v_st_wire, a_st_wire, kMaxHits);
      copy_hits(st_t, v_st_t, a_st_t, kMaxHits);
      tree.Fill();
      ++n;
   }
   fout.cd();
   tree.Write();
   // the metadata: one JSON object; a converter writes at least schema_version and period
   TString json = meta->GetString();
   json.ReplaceAll("\"schema_version\":1", TString::Format("\"schema_version\":1,\"converted_by\":\"na64_convert.C (%s)\"", layout));
   TObjString(json).Write("na64_metadata");
   fout.Close();
   std::printf("na64_convert: %lld events, layout %s -> %s\n", n, layout, output);
   return 0;
}
