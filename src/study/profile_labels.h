// Labels that teach the base's vision tower to perceive the profiles drawn on its pretraining
// images. The per-patch object loss of pretraining (train/aux_objects.h) names the object under
// each patch; the profiles U0 leaves on the pretraining images were background to it, so the tower
// learnt to look through them, and the study's perception check stayed near chance. Here the
// profile becomes objects of its own, so the loss asks the tower for what tells one profile from
// another: every identicon cell ("identicon_ink" or "identicon_blank"), or every character of the
// drawn text (a per-patch character loss: the reading preset).
#pragma once

#include <cstddef>
#include <filesystem>

#include "embed/watermark.h"

namespace privprobe {

struct IdenticonLabelCounts {
  std::size_t images = 0;  // images whose picture was labelled
  std::size_t cells = 0;   // cell objects added
};

// Writes `out`: the album's objects.json with the two colours added and, for each row of
// embed_folder/manifest.jsonl that drew an identicon (not clipped), one square per cell of the
// profile's pattern (looked up by id in `profiles`) at the picture's place, after the image's own
// objects so that they label the patches under the picture. Throws DataError / FormatError naming
// the file (a manifest row naming a profile the file lacks, a picture whose size is not whole cells).
IdenticonLabelCounts write_identicon_objects(const std::filesystem::path& objects,
                                             const std::filesystem::path& embed_folder,
                                             const std::filesystem::path& profiles, const std::filesystem::path& out);

struct CharacterLabelCounts {
  std::size_t images = 0;      // images whose text was labelled
  std::size_t glyphs = 0;      // glyph objects added (spaces are left as background)
  std::size_t characters = 0;  // distinct characters, one colour "char:<c>" each
};

// Writes `out`: the album's objects.json with one colour per character drawn ("char:a", in code
// point order) and, for each row of embed_folder/manifest.jsonl that drew text (style text or
// both, not clipped), one square per non-space glyph at its advance cell (watermark_glyph_cells
// with the row's font size, lines from `watermark`'s fields), after the image's own objects.
// Throws DataError / FormatError naming the file (a profile the file lacks, a text layout that
// overruns the row's box: the watermark settings differ from those the images were drawn with).
CharacterLabelCounts write_character_objects(const std::filesystem::path& objects,
                                             const std::filesystem::path& embed_folder,
                                             const std::filesystem::path& profiles, const WatermarkConfig& watermark,
                                             const std::filesystem::path& out);

}  // namespace privprobe
