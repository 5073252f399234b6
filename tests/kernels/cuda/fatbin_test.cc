// The CUDA plugin carries device code for the GPUs ovserve targets: SASS for
// sm_80 (A100) and sm_90 (H100/H200) and PTX for newer GPUs to JIT, for every
// kernel file. Checked on the built library's .nv_fatbin section (no GPU or
// cuobjdump needed): each fat binary starts with magic 0xBA55ED50; its
// entries have a kind (1 = PTX, 2 = ELF/SASS) and the SM version at byte 28.
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace {

constexpr uint32_t kFatbinMagic = 0xBA55ED50;

template <typename T>
T Read(const std::vector<char>& bytes, size_t offset) {
  T value{};
  if (offset + sizeof(T) <= bytes.size()) std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::vector<char> SectionBytes(const std::vector<char>& file, const std::string& name) {
  const auto ehdr = Read<Elf64_Ehdr>(file, 0);
  if (std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) != 0) return {};
  const auto names = Read<Elf64_Shdr>(file, ehdr.e_shoff + ehdr.e_shstrndx * sizeof(Elf64_Shdr));
  for (int i = 0; i < ehdr.e_shnum; ++i) {
    const auto sh = Read<Elf64_Shdr>(file, ehdr.e_shoff + i * sizeof(Elf64_Shdr));
    const char* section_name = file.data() + names.sh_offset + sh.sh_name;
    if (name == section_name) {
      return std::vector<char>(file.begin() + static_cast<std::ptrdiff_t>(sh.sh_offset),
                               file.begin() + static_cast<std::ptrdiff_t>(sh.sh_offset + sh.sh_size));
    }
  }
  return {};
}

struct Fatbins {
  int count = 0;                          // fat binaries (one per .cu)
  std::set<std::pair<int, int>> entries;  // (kind, sm)
  std::vector<std::set<std::pair<int, int>>> per_fatbin;
};

Fatbins ParseFatbins(const std::vector<char>& section) {
  Fatbins out;
  for (size_t pos = 0; pos + 16 <= section.size(); pos += 8) {
    if (Read<uint32_t>(section, pos) != kFatbinMagic) continue;
    const auto header_size = Read<uint16_t>(section, pos + 6);
    const auto fat_size = Read<uint64_t>(section, pos + 8);
    std::set<std::pair<int, int>> mine;
    for (size_t e = pos + header_size; e + 32 <= pos + header_size + fat_size && e + 32 <= section.size();) {
      const auto kind = Read<uint16_t>(section, e);
      const auto entry_header = Read<uint32_t>(section, e + 4);
      const auto payload = Read<uint64_t>(section, e + 8);
      const auto sm = Read<uint32_t>(section, e + 28);
      mine.insert({kind, static_cast<int>(sm)});
      if (entry_header == 0) break;
      e += entry_header + payload;
    }
    out.entries.insert(mine.begin(), mine.end());
    out.per_fatbin.push_back(std::move(mine));
    ++out.count;
    pos += header_size + fat_size - 8;  // the loop adds 8 back
  }
  return out;
}

TEST(CudaFatbinTest, PluginHasSm80AndSm90SassAndPtxForEveryKernelFile) {
  std::ifstream in(OVSERVE_CUDA_PLUGIN_FILE, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << OVSERVE_CUDA_PLUGIN_FILE;
  const std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<char> section = SectionBytes(file, ".nv_fatbin");
  ASSERT_FALSE(section.empty()) << "no .nv_fatbin section in " << OVSERVE_CUDA_PLUGIN_FILE;
  const Fatbins fatbins = ParseFatbins(section);
  // attention, bilinear, convert, elementwise, embedding, im2patches, kv_store, norm, rope.
  EXPECT_GE(fatbins.count, 9);
  for (const auto& mine : fatbins.per_fatbin) {
    EXPECT_TRUE(mine.count({2, 80})) << "a kernel file lacks sm_80 SASS";
    EXPECT_TRUE(mine.count({2, 90})) << "a kernel file lacks sm_90 SASS";
    EXPECT_TRUE(mine.count({1, 90})) << "a kernel file lacks compute_90 PTX";
  }
}

}  // namespace
