//! Where each point's note goes (the P of an ensembles point): beside its point, clear of
//! the notes already placed, of the chart's markers and of the plot's edges. Drawn where
//! notes always went, above and to the right, two points a few pixels apart printed their
//! notes over each other ("P=2" and "P=4†" read "P=2 4†"). Pixels throughout, y downwards.

/// A rectangle in pixels: its left and top edges, its width and height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub left: i32,
    pub top: i32,
    pub width: i32,
    pub height: i32,
}

impl Rect {
    fn overlap(&self, other: &Rect) -> i64 {
        let w = (self.left + self.width).min(other.left + other.width) - self.left.max(other.left);
        let h = (self.top + self.height).min(other.top + other.height) - self.top.max(other.top);
        if w > 0 && h > 0 { i64::from(w) * i64::from(h) } else { 0 }
    }

    /// The part of this rectangle outside `area`.
    fn outside(&self, area: &Rect) -> i64 {
        i64::from(self.width) * i64::from(self.height) - self.overlap(area)
    }
}

/// One note to place: its point and its text's size, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Note {
    pub at: (i32, i32),
    pub size: (i32, i32),
}

/// Half the side of the square a marker covers.
const MARKER: i32 = 5;
/// The offset notes had before they were placed: above and to the right of the point.
pub const ABOVE_RIGHT: (i32, i32) = (6, -18);

/// Offsets of a note's top-left corner from its point, in order of preference: above right,
/// below right, above left, below left, right, left, above, below.
fn candidates((w, h): (i32, i32)) -> [(i32, i32); 8] {
    let gap = 6;
    [
        ABOVE_RIGHT,
        (gap, gap - 2),
        (-w - gap, ABOVE_RIGHT.1),
        (-w - gap, gap - 2),
        (gap + MARKER, -h / 2),
        (-w - gap - MARKER, -h / 2),
        (-w / 2, -h - gap - MARKER),
        (-w / 2, gap + MARKER),
    ]
}

/// Each note's offset from its point, in the notes' order: the first candidate that covers
/// no note placed before it, nor the legend, no marker (`markers`: every point drawn) and
/// nothing outside `area` (the plot); where each covers something, the one that covers
/// least, notes and the legend counting most.
pub fn place(notes: &[Note], markers: &[(i32, i32)], area: Rect, legend: Option<Rect>) -> Vec<(i32, i32)> {
    let marker_boxes: Vec<Rect> = markers
        .iter()
        .map(|&(x, y)| Rect { left: x - MARKER, top: y - MARKER, width: 2 * MARKER, height: 2 * MARKER })
        .collect();
    // The legend counts as a note placed before them all.
    let mut placed: Vec<Rect> = legend.into_iter().collect();
    let mut out = Vec::new();
    for note in notes {
        let (w, h) = note.size;
        let scored = candidates(note.size).into_iter().map(|(dx, dy)| {
            let rect = Rect { left: note.at.0 + dx, top: note.at.1 + dy, width: w, height: h };
            let on_notes: i64 = placed.iter().map(|p| p.overlap(&rect)).sum();
            let on_markers: i64 = marker_boxes.iter().map(|m| m.overlap(&rect)).sum();
            (100 * on_notes + 10 * rect.outside(&area) + on_markers, (dx, dy), rect)
        });
        // `min_by_key` keeps the first of equal scores: the preferred side.
        let (_, offset, rect) = scored.min_by_key(|s| s.0).expect("eight candidates");
        placed.push(rect);
        out.push(offset);
    }
    out
}

/// Where the legend goes: a corner of the plot or the middle of a side (plotters' named
/// positions, without the centre).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegendSpot {
    UpperLeft,
    UpperMiddle,
    UpperRight,
    MiddleLeft,
    MiddleRight,
    LowerLeft,
    LowerMiddle,
    LowerRight,
}

impl LegendSpot {
    /// Corners first: a legend in the middle of a side sits over the lines more often.
    const ALL: [LegendSpot; 8] = [
        LegendSpot::UpperLeft,
        LegendSpot::UpperRight,
        LegendSpot::LowerLeft,
        LegendSpot::LowerRight,
        LegendSpot::MiddleLeft,
        LegendSpot::MiddleRight,
        LegendSpot::UpperMiddle,
        LegendSpot::LowerMiddle,
    ];

    /// The box a legend of `size` covers here in `area`, as plotters places it (5 pixels
    /// from the edges it keeps to, centred on the others).
    pub fn legend_box(self, (w, h): (i32, i32), area: &Rect) -> Rect {
        use LegendSpot::*;
        const MARGIN: i32 = 5;
        let left = match self {
            UpperLeft | MiddleLeft | LowerLeft => area.left + MARGIN,
            UpperMiddle | LowerMiddle => area.left + (area.width - w) / 2,
            UpperRight | MiddleRight | LowerRight => area.left + area.width - MARGIN - w,
        };
        let top = match self {
            UpperLeft | UpperMiddle | UpperRight => area.top + MARGIN,
            MiddleLeft | MiddleRight => area.top + (area.height - h) / 2,
            LowerLeft | LowerMiddle | LowerRight => area.top + area.height - MARGIN - h,
        };
        Rect { left, top, width: w, height: h }
    }
}

/// The spot for a legend of `size`: `preferred` unless its box covers a marker, else the
/// spot whose box covers fewest (the preferred one first among equals, then the corners).
pub fn legend_spot(preferred: LegendSpot, size: (i32, i32), markers: &[(i32, i32)], area: Rect) -> LegendSpot {
    let covered = |spot: LegendSpot| {
        let b = spot.legend_box(size, &area);
        let (xs, ys) = (b.left - MARKER..=b.left + b.width + MARKER, b.top - MARKER..=b.top + b.height + MARKER);
        markers.iter().filter(|(x, y)| xs.contains(x) && ys.contains(y)).count()
    };
    let order = std::iter::once(preferred).chain(LegendSpot::ALL.into_iter().filter(|&c| c != preferred));
    order.min_by_key(|&c| covered(c)).expect("eight spots")
}

#[cfg(test)]
mod tests {
    use super::*;

    const AREA: Rect = Rect { left: 0, top: 0, width: 800, height: 500 };

    fn rect(note: &Note, (dx, dy): (i32, i32)) -> Rect {
        Rect { left: note.at.0 + dx, top: note.at.1 + dy, width: note.size.0, height: note.size.1 }
    }

    #[test]
    fn a_lone_note_goes_where_notes_always_went() {
        let note = Note { at: (400, 250), size: (30, 15) };
        assert_eq!(place(&[note], &[note.at], AREA, None), vec![ABOVE_RIGHT]);
    }

    #[test]
    fn notes_of_points_a_few_pixels_apart_do_not_cover_each_other() {
        // T9's one-model points at P = 2 and P = 4: 12 pixels apart on the same accuracy.
        let notes = [Note { at: (120, 300), size: (28, 15) }, Note { at: (132, 300), size: (36, 15) }];
        let offsets = place(&notes, &[notes[0].at, notes[1].at], AREA, None);
        let (a, b) = (rect(&notes[0], offsets[0]), rect(&notes[1], offsets[1]));
        assert_eq!(a.overlap(&b), 0, "{a:?} {b:?}");
        // Three points stacked closely: every pair apart.
        let notes: Vec<Note> = (0..3).map(|i| Note { at: (300, 200 + 4 * i), size: (28, 15) }).collect();
        let offsets = place(&notes, &notes.iter().map(|n| n.at).collect::<Vec<_>>(), AREA, None);
        let rects: Vec<Rect> = notes.iter().zip(&offsets).map(|(n, &o)| rect(n, o)).collect();
        for i in 0..3 {
            for j in i + 1..3 {
                assert_eq!(rects[i].overlap(&rects[j]), 0, "{rects:?}");
            }
        }
    }

    #[test]
    fn a_note_at_the_top_right_corner_stays_inside_the_plot() {
        let note = Note { at: (795, 3), size: (30, 15) };
        let offset = place(&[note], &[note.at], AREA, None)[0];
        assert_eq!(rect(&note, offset).outside(&AREA), 0, "{offset:?}");
    }

    #[test]
    fn a_note_keeps_off_the_legend() {
        let note = Note { at: (600, 420), size: (30, 15) };
        let legend = LegendSpot::LowerRight.legend_box((200, 100), &AREA);
        let offset = place(&[note], &[note.at], AREA, Some(legend))[0];
        assert_eq!(rect(&note, offset).overlap(&legend), 0, "{offset:?} {legend:?}");
    }

    #[test]
    fn the_legend_leaves_the_spot_that_holds_points() {
        let size = (200, 120);
        // A point under the lower-right legend (T9's bagged ensemble at P = 4).
        let markers = [(700, 400), (100, 480), (300, 300)];
        assert_eq!(legend_spot(LegendSpot::LowerRight, size, &markers, AREA), LegendSpot::UpperLeft);
        // Nothing under it: the preferred spot stays.
        assert_eq!(legend_spot(LegendSpot::LowerRight, size, &[(300, 300)], AREA), LegendSpot::LowerRight);
        // Points in every corner (T3's efficiencies at P = 1 and 2, high and low): a side's middle.
        let corners = [(50, 50), (750, 50), (50, 450), (750, 450)];
        assert_eq!(legend_spot(LegendSpot::LowerRight, size, &corners, AREA), LegendSpot::MiddleLeft);
        // Every spot holds one: the preferred one.
        let everywhere: Vec<(i32, i32)> =
            LegendSpot::ALL.iter().map(|s| s.legend_box(size, &AREA)).map(|b| (b.left + 5, b.top + 5)).collect();
        assert_eq!(legend_spot(LegendSpot::UpperRight, size, &everywhere, AREA), LegendSpot::UpperRight);
    }
}
