//! Colour management. The network was trained on sRGB photographs, so input pixels are converted
//! to sRGB on the way in and the stylized sRGB result back to the input's colour space on the way
//! out. With an embedded ICC profile both conversions go through Little CMS at 16 bits per sample
//! (its precalculated transforms: exact for 16-bit input, never through 8 bits): an Adobe RGB or
//! CMYK file comes back in its own space, tagged with its own profile.
//! Without a profile the input is taken as sRGB, and CMYK as plain ink coverages.

use std::sync::Arc;

use lcms2::{
    ColorSpaceSignature, DisallowCache, Flags, GlobalContext, InfoType, Intent, Locale,
    PixelFormat, Profile, Transform,
};

use crate::error::{Error, Result};

/// The colour samples of a pixel; alpha is separate and never converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ColourModel {
    /// One gray sample.
    Gray,
    /// Red, green, blue.
    Rgb,
    /// Cyan, magenta, yellow, black inks.
    Cmyk,
}

impl ColourModel {
    /// Colour samples per pixel.
    pub fn samples(self) -> usize {
        match self {
            Self::Gray => 1,
            Self::Rgb => 3,
            Self::Cmyk => 4,
        }
    }

    fn pixel_format(self) -> PixelFormat {
        match self {
            Self::Gray => PixelFormat::GRAY_16,
            Self::Rgb => PixelFormat::RGB_16,
            Self::Cmyk => PixelFormat::CMYK_16,
        }
    }

    fn signature(self) -> ColorSpaceSignature {
        match self {
            Self::Gray => ColorSpaceSignature::GrayData,
            Self::Rgb => ColorSpaceSignature::RgbData,
            Self::Cmyk => ColorSpaceSignature::CmykData,
        }
    }
}

/// ICC rendering intent of the conversions (with black point compensation where it applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum RenderingIntent {
    /// Perceptual: compresses the whole gamut.
    Perceptual,
    /// Relative colorimetric: in-gamut colours exact, white mapped to white (libvips' and
    /// Photoshop's default).
    #[default]
    Relative,
    /// Saturation: vivid colours over accuracy.
    Saturation,
    /// Absolute colorimetric: paper white simulated.
    Absolute,
}

impl RenderingIntent {
    fn lcms(self) -> Intent {
        match self {
            Self::Perceptual => Intent::Perceptual,
            Self::Relative => Intent::RelativeColorimetric,
            Self::Saturation => Intent::Saturation,
            Self::Absolute => Intent::AbsoluteColorimetric,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Perceptual => "perceptual",
            Self::Relative => "relative colorimetric",
            Self::Saturation => "saturation",
            Self::Absolute => "absolute colorimetric",
        }
    }
}

/// How the input's colour is treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColourOptions {
    /// Intent of the ICC conversions.
    pub intent: RenderingIntent,
    /// Take the pixels as sRGB (CMYK as plain inks) whatever the profile says, and copy the
    /// profile to the output unchanged.
    pub ignore_icc: bool,
}

/// A 16-bit transform that threads may share (no cache), on `u16` samples passed as bytes.
type Transform16 = Transform<u8, u8, GlobalContext, DisallowCache>;

/// Little CMS's 16-bit transforms are precalculated (a matrix-shaper or a device link table):
/// about ten times faster than its float path, and finer than any 16-bit image.
fn transform16(
    from: &Profile,
    from_model: ColourModel,
    to: &Profile,
    to_model: ColourModel,
    intent: RenderingIntent,
) -> std::result::Result<Transform16, String> {
    Transform::new_flags_context(
        GlobalContext::new(),
        from,
        from_model.pixel_format(),
        to,
        to_model.pixel_format(),
        intent.lcms(),
        Flags::NO_CACHE | Flags::BLACKPOINT_COMPENSATION | Flags::HIGHRES_PRECALC,
    )
    .map_err(|e| format!("Little CMS cannot build the conversion: {e}"))
}

fn apply16(transform: &Transform16, src: &[u16], dst: &mut [u16]) {
    transform.transform_pixels(bytemuck::cast_slice(src), bytemuck::cast_slice_mut(dst));
}

const LEVELS: f32 = 65535.0;

/// Clamps to 0..1 (NaN to 0).
fn unit(v: f32) -> f32 {
    if v.is_nan() {
        0.0
    } else {
        v.clamp(0.0, 1.0)
    }
}

/// An embedded profile that converts to sRGB. (The profile is kept as bytes: a parsed profile
/// cannot be shared between threads, the transform can.)
struct IccInput {
    bytes: Vec<u8>,
    description: String,
    to_srgb: Transform16,
    intent: RenderingIntent,
}

/// Where the input's colour samples come from, and how they become sRGB.
enum Source {
    /// No profile (or `--ignore-icc`): gray and RGB are sRGB already.
    AssumedSrgb,
    /// CMYK without a profile (or with `--ignore-icc`): plain ink coverages.
    PlainCmyk,
    /// Converted with the embedded profile.
    Icc(Box<IccInput>),
}

/// The input's colour space and its conversion to sRGB. Cloning is cheap (shared).
#[derive(Clone)]
pub struct InputColour {
    model: ColourModel,
    source: Arc<Source>,
    /// A profile copied unchanged to output of the same model (with `--ignore-icc`).
    passthrough: Option<Arc<Vec<u8>>>,
}

impl InputColour {
    /// The colour space of `model` samples with an optional embedded profile. An unreadable
    /// profile, or one for other samples than the image has, is an error that names the way
    /// out (`--ignore-icc`).
    pub fn new(
        model: ColourModel,
        icc: Option<&[u8]>,
        opts: &ColourOptions,
    ) -> std::result::Result<Self, String> {
        let plain = |passthrough: Option<&[u8]>| Self {
            model,
            source: Arc::new(if model == ColourModel::Cmyk {
                Source::PlainCmyk
            } else {
                Source::AssumedSrgb
            }),
            passthrough: passthrough.map(|b| Arc::new(b.to_vec())),
        };
        match icc {
            None => Ok(plain(None)),
            Some(bytes) if opts.ignore_icc => Ok(plain(Some(bytes))),
            Some(bytes) => Ok(Self {
                model,
                source: Arc::new(Source::Icc(Box::new(IccInput::new(
                    model,
                    bytes,
                    opts.intent,
                )?))),
                passthrough: None,
            }),
        }
    }

    /// The input's colour samples.
    pub fn model(&self) -> ColourModel {
        self.model
    }

    /// Converts interleaved colour samples (16-bit levels, 8-bit input scaled by 257;
    /// [`InputColour::model`] per pixel) to interleaved sRGB in 0..1.
    pub fn to_srgb(&self, device: &[u16], rgb: &mut [f32]) {
        let unit = |v: u16| f32::from(v) / LEVELS;
        match (&*self.source, self.model) {
            (Source::Icc(icc), _) => {
                let mut rgb16 = vec![0u16; rgb.len()];
                apply16(&icc.to_srgb, device, &mut rgb16);
                for (d, v) in rgb.iter_mut().zip(&rgb16) {
                    *d = unit(*v);
                }
            }
            (_, ColourModel::Gray) => {
                for (px, v) in rgb.chunks_exact_mut(3).zip(device) {
                    px.fill(unit(*v));
                }
            }
            (_, ColourModel::Rgb) => {
                for (d, v) in rgb.iter_mut().zip(device) {
                    *d = unit(*v);
                }
            }
            (_, ColourModel::Cmyk) => {
                for (px, ink) in rgb.chunks_exact_mut(3).zip(device.chunks_exact(4)) {
                    let white = 1.0 - unit(ink[3]);
                    for c in 0..3 {
                        px[c] = (1.0 - unit(ink[c])) * white;
                    }
                }
            }
        }
    }

    /// One line on how colour is handled, for `--verbose` and `info`.
    pub fn describe(&self) -> String {
        match &*self.source {
            Source::Icc(icc) => format!(
                "ICC profile \"{}\" ({:?}): converted to sRGB for the network \
                 ({}, black point compensation)",
                icc.description,
                self.model,
                icc.intent.name()
            ),
            _ if self.passthrough.is_some() => format!(
                "ICC profile ignored (--ignore-icc): {} copied unchanged",
                self.plain_meaning()
            ),
            _ => format!("no ICC profile: {}", self.plain_meaning()),
        }
    }

    fn plain_meaning(&self) -> &'static str {
        match self.model {
            ColourModel::Cmyk => "CMYK taken as plain ink coverages (naive conversion)",
            _ => "assuming sRGB",
        }
    }

    /// The output's colour for this input: the input's own space and profile where the output
    /// format can hold it (`cmyk_ok`: TIFF), else sRGB (tagged with an sRGB profile when the
    /// input was profiled). Gray input becomes RGB unless `keep_gray`.
    pub fn output(&self, cmyk_ok: bool, keep_gray: bool) -> Result<OutputColour> {
        let model = match self.model {
            ColourModel::Gray if keep_gray => ColourModel::Gray,
            ColourModel::Cmyk if cmyk_ok => ColourModel::Cmyk,
            _ => ColourModel::Rgb,
        };
        let same = model == self.model;
        let (from_srgb, icc, tag) = match &*self.source {
            Source::Icc(icc) if same => (
                FromSrgb::Icc(Arc::new(icc.srgb_to_profile(model)?)),
                Some(icc.bytes.clone()),
                "the input's profile embedded",
            ),
            Source::Icc(_) => (
                FromSrgb::Direct,
                Some(srgb_profile_bytes()?),
                "an sRGB profile embedded",
            ),
            _ => {
                let from_srgb = match model {
                    ColourModel::Gray => FromSrgb::Luma,
                    ColourModel::Rgb => FromSrgb::Direct,
                    ColourModel::Cmyk => FromSrgb::PlainCmyk,
                };
                match self.passthrough.as_ref().filter(|_| same) {
                    Some(bytes) => (
                        from_srgb,
                        Some(bytes.to_vec()),
                        "the input's profile copied",
                    ),
                    None => (from_srgb, None, "no profile"),
                }
            }
        };
        Ok(OutputColour {
            model,
            from_srgb,
            icc,
            tag,
        })
    }
}

impl IccInput {
    fn new(
        model: ColourModel,
        bytes: &[u8],
        intent: RenderingIntent,
    ) -> std::result::Result<Self, String> {
        let profile = Profile::new_icc(bytes).map_err(|_| {
            "the embedded ICC profile is unreadable; --ignore-icc takes the pixels as sRGB"
                .to_string()
        })?;
        let space = profile.color_space();
        if space != model.signature() {
            return Err(format!(
                "the embedded ICC profile is for {space:?} but the image has {model:?} samples; \
                 --ignore-icc takes the pixels as sRGB"
            ));
        }
        let description = profile
            .info(InfoType::Description, Locale::none())
            .unwrap_or_default()
            .trim()
            .to_string();
        let to_srgb = transform16(
            &profile,
            model,
            &Profile::new_srgb(),
            ColourModel::Rgb,
            intent,
        )?;
        Ok(Self {
            bytes: bytes.to_vec(),
            description,
            to_srgb,
            intent,
        })
    }

    fn srgb_to_profile(&self, model: ColourModel) -> Result<Transform16> {
        let why =
            |why: String| Error::InvalidOption(format!("ICC profile {}: {why}", self.description));
        let profile = Profile::new_icc(&self.bytes).map_err(|e| why(e.to_string()))?;
        transform16(
            &Profile::new_srgb(),
            ColourModel::Rgb,
            &profile,
            model,
            self.intent,
        )
        .map_err(why)
    }
}

/// Creation date written into the sRGB profile's header (ICC dateTimeNumber: year, month, day,
/// hours, minutes, seconds as big-endian u16), so that the same input gives the same output bytes
/// (Little CMS would stamp the current time).
const SRGB_PROFILE_DATE: [u16; 6] = [2026, 1, 1, 0, 0, 0];

/// The bytes of Little CMS's sRGB profile, to tag sRGB output made from profiled input.
fn srgb_profile_bytes() -> Result<Vec<u8>> {
    let mut bytes = Profile::new_srgb()
        .icc()
        .map_err(|e| Error::InvalidOption(format!("cannot serialise the sRGB profile: {e}")))?;
    let date: Vec<u8> = SRGB_PROFILE_DATE
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    if let Some(field) = bytes.get_mut(24..36) {
        field.copy_from_slice(&date);
    }
    Ok(bytes)
}

/// How stylized sRGB becomes the output's samples.
#[derive(Clone)]
enum FromSrgb {
    /// sRGB out as it is.
    Direct,
    /// Gray without a profile: Rec. 601 luma.
    Luma,
    /// CMYK without a profile: plain inks, black generated from the darkest channel.
    PlainCmyk,
    /// Through the input's profile.
    Icc(Arc<Transform16>),
}

/// The output's colour space: its samples, the conversion from sRGB and the profile to embed.
#[derive(Clone)]
pub struct OutputColour {
    model: ColourModel,
    from_srgb: FromSrgb,
    icc: Option<Vec<u8>>,
    /// Where the embedded profile comes from, in words.
    tag: &'static str,
}

impl std::fmt::Debug for OutputColour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputColour")
            .field("model", &self.model)
            .field("icc_bytes", &self.icc.as_ref().map(Vec::len))
            .finish()
    }
}

impl OutputColour {
    /// Untagged sRGB (what an input without a profile gives).
    pub fn srgb() -> Self {
        Self {
            model: ColourModel::Rgb,
            from_srgb: FromSrgb::Direct,
            icc: None,
            tag: "no profile",
        }
    }

    /// The output's colour samples.
    pub fn model(&self) -> ColourModel {
        self.model
    }

    /// One line on what the output holds, for `--verbose`.
    pub fn describe(&self) -> String {
        let how = match &self.from_srgb {
            FromSrgb::Direct => "sRGB",
            FromSrgb::Luma => "gray (Rec. 601 luma of the sRGB result)",
            FromSrgb::PlainCmyk => "CMYK as plain inks (black from the darkest channel)",
            FromSrgb::Icc(_) => "converted back to the input's profile",
        };
        format!("{:?} output, {how}, {}", self.model, self.tag)
    }

    /// The ICC profile to embed, if any.
    pub fn icc(&self) -> Option<&[u8]> {
        self.icc.as_deref()
    }

    /// Converts interleaved sRGB (0..1) to interleaved output samples (0..1,
    /// [`OutputColour::model`] per pixel).
    pub fn from_srgb(&self, rgb: &[f32], device: &mut [f32]) {
        match &self.from_srgb {
            FromSrgb::Direct => {
                for (d, v) in device.iter_mut().zip(rgb) {
                    *d = unit(*v);
                }
            }
            FromSrgb::Luma => {
                for (d, px) in device.iter_mut().zip(rgb.chunks_exact(3)) {
                    *d = unit(0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]);
                }
            }
            FromSrgb::PlainCmyk => {
                for (ink, px) in device.chunks_exact_mut(4).zip(rgb.chunks_exact(3)) {
                    let (r, g, b) = (unit(px[0]), unit(px[1]), unit(px[2]));
                    let white = r.max(g).max(b);
                    ink[3] = 1.0 - white;
                    for (c, v) in [r, g, b].into_iter().enumerate() {
                        ink[c] = if white > 0.0 { 1.0 - v / white } else { 0.0 };
                    }
                }
            }
            FromSrgb::Icc(transform) => {
                let rgb16: Vec<u16> = rgb
                    .iter()
                    .map(|v| (unit(*v) * LEVELS + 0.5) as u16)
                    .collect();
                let mut device16 = vec![0u16; device.len()];
                apply16(transform, &rgb16, &mut device16);
                for (d, v) in device.iter_mut().zip(&device16) {
                    *d = f32::from(*v) / LEVELS;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lcms2::{CIExyY, CIExyYTRIPLE, ToneCurve};

    /// Adobe RGB (1998) built from its published primaries and gamma 563/256.
    fn adobe_rgb() -> Vec<u8> {
        let xyy = |x, y| CIExyY { x, y, Y: 1.0 };
        let primaries = CIExyYTRIPLE {
            Red: xyy(0.64, 0.33),
            Green: xyy(0.21, 0.71),
            Blue: xyy(0.15, 0.06),
        };
        let curve = ToneCurve::new(563.0 / 256.0);
        Profile::new_rgb(&xyy(0.3127, 0.3290), &primaries, &[&curve, &curve, &curve])
            .unwrap()
            .icc()
            .unwrap()
    }

    fn to_srgb(colour: &InputColour, device: &[f32]) -> Vec<f32> {
        let levels: Vec<u16> = device.iter().map(|v| (v * LEVELS + 0.5) as u16).collect();
        let mut rgb = vec![0.0; device.len() / colour.model().samples() * 3];
        colour.to_srgb(&levels, &mut rgb);
        rgb
    }

    /// sRGB's transfer function, to compute expected values independently of Little CMS.
    fn srgb_encode(linear: f64) -> f64 {
        if linear <= 0.0031308 {
            12.92 * linear
        } else {
            1.055 * linear.powf(1.0 / 2.4) - 0.055
        }
    }

    #[test]
    fn adobe_rgb_converts_like_the_published_matrices() {
        let colour =
            InputColour::new(ColourModel::Rgb, Some(&adobe_rgb()), &Default::default()).unwrap();
        let adobe = [0.8f32, 0.5, 0.3];
        let got = to_srgb(&colour, &adobe);
        // Adobe RGB → XYZ (D65) → linear sRGB with the standards' matrices.
        let lin: Vec<f64> = adobe
            .iter()
            .map(|v| f64::from(*v).powf(563.0 / 256.0))
            .collect();
        let to_xyz = [
            [0.5767, 0.1856, 0.1882],
            [0.2973, 0.6274, 0.0753],
            [0.0270, 0.0707, 0.9911],
        ];
        let to_srgb_lin = [
            [3.2406, -1.5372, -0.4986],
            [-0.9689, 1.8758, 0.0415],
            [0.0557, -0.2040, 1.0570],
        ];
        let xyz: Vec<f64> = to_xyz
            .iter()
            .map(|r| r.iter().zip(&lin).map(|(m, v)| m * v).sum())
            .collect();
        for (c, row) in to_srgb_lin.iter().enumerate() {
            let linear: f64 = row.iter().zip(&xyz).map(|(m, v)| m * v).sum();
            let expected = srgb_encode(linear);
            assert!(
                (f64::from(got[c]) - expected).abs() < 2.0 / 255.0,
                "channel {c}: {} vs {expected}",
                got[c]
            );
        }
    }

    #[test]
    fn profiled_rgb_round_trips_through_srgb() {
        // One serialisation: a profile's header holds its creation time.
        let profile = adobe_rgb();
        let colour =
            InputColour::new(ColourModel::Rgb, Some(&profile), &Default::default()).unwrap();
        let out = colour.output(true, false).unwrap();
        assert_eq!(out.model(), ColourModel::Rgb);
        assert_eq!(out.icc(), Some(profile.as_slice()));
        // Colours inside sRGB's gamut survive Adobe RGB → sRGB → Adobe RGB.
        let adobe: Vec<f32> = vec![0.5, 0.5, 0.5, 0.7, 0.45, 0.35, 0.2, 0.3, 0.5];
        let srgb = to_srgb(&colour, &adobe);
        assert!((srgb[3] - adobe[3]).abs() > 0.01, "no conversion happened");
        let mut back = vec![0.0; adobe.len()];
        out.from_srgb(&srgb, &mut back);
        for (a, b) in adobe.iter().zip(&back) {
            assert!((a - b).abs() < 1e-3, "{adobe:?} -> {back:?}");
        }
    }

    #[test]
    fn plain_cmyk_round_trip_keeps_the_colour() {
        let colour = InputColour::new(ColourModel::Cmyk, None, &Default::default()).unwrap();
        assert!(colour.describe().contains("plain ink"));
        let out = colour.output(true, false).unwrap();
        assert_eq!(out.model(), ColourModel::Cmyk);
        let inks = [
            0.1f32, 0.6, 0.3, 0.2, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.0,
        ];
        let rgb = to_srgb(&colour, &inks);
        let mut back = vec![0.0; inks.len()];
        out.from_srgb(&rgb, &mut back);
        assert_eq!(&back[4..8], &[0.0, 0.0, 0.0, 1.0], "black stays pure K");
        assert!(
            (back[11] - 0.5).abs() < 1e-4,
            "gray becomes K only: {back:?}"
        );
        assert!(to_srgb(&colour, &back)
            .iter()
            .zip(&rgb)
            .all(|(a, b)| (a - b).abs() < 1e-4));
        let to_png = colour.output(false, false).unwrap();
        assert_eq!(to_png.model(), ColourModel::Rgb);
    }

    #[test]
    fn profiled_gray_becomes_tagged_srgb_unless_kept_gray() {
        let gray_profile = Profile::new_gray(CIExyY::d50(), &ToneCurve::new(2.2))
            .unwrap()
            .icc()
            .unwrap();
        let colour =
            InputColour::new(ColourModel::Gray, Some(&gray_profile), &Default::default()).unwrap();
        let rgb = to_srgb(&colour, &[0.5]);
        assert!((rgb[0] - rgb[1]).abs() < 1e-3 && (rgb[1] - rgb[2]).abs() < 1e-3);
        let as_rgb = colour.output(true, false).unwrap();
        assert_eq!(as_rgb.model(), ColourModel::Rgb);
        let srgb = as_rgb.icc().unwrap();
        let tag = Profile::new_icc(srgb).unwrap();
        assert_eq!(tag.color_space(), ColorSpaceSignature::RgbData);
        // A fixed date, not the time of the run: the same input gives the same bytes.
        assert_eq!(&srgb[24..28], &[0x07, 0xEA, 0, 1]);
        let kept = colour.output(true, true).unwrap();
        assert_eq!(kept.icc(), Some(gray_profile.as_slice()));
        let mut back = [0.0];
        kept.from_srgb(&rgb, &mut back);
        assert!((back[0] - 0.5).abs() < 1e-3, "{back:?}");
    }

    #[test]
    fn bad_or_mismatched_profiles_are_refused_unless_ignored() {
        let garbage = vec![7u8; 300];
        let why = InputColour::new(ColourModel::Rgb, Some(&garbage), &Default::default())
            .err()
            .unwrap();
        assert!(
            why.contains("unreadable") && why.contains("--ignore-icc"),
            "{why}"
        );
        let why = InputColour::new(ColourModel::Cmyk, Some(&adobe_rgb()), &Default::default())
            .err()
            .unwrap();
        assert!(why.contains("RgbData") && why.contains("Cmyk"), "{why}");
        let ignore = ColourOptions {
            ignore_icc: true,
            ..Default::default()
        };
        let colour = InputColour::new(ColourModel::Rgb, Some(&garbage), &ignore).unwrap();
        assert_eq!(to_srgb(&colour, &[0.2, 0.4, 0.6]), vec![0.2, 0.4, 0.6]);
        assert_eq!(
            colour.output(true, false).unwrap().icc(),
            Some(&garbage[..])
        );
        assert_eq!(colour.output(true, true).unwrap().icc(), Some(&garbage[..]));
    }
}
