//! Which MNIST images a run reads: its pool. A profile names one, so that a run reads the
//! images the expected results were made on whatever else the data directory holds (with
//! all four files there, "every pair present" would be all 70,000 images, and the quick
//! profile's first rows training images instead of the test images it describes).

use serde::{Deserialize, Serialize};

/// The images a run reads, in order (training images first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pool {
    /// Every complete image/label pair the directory holds (what `train` and `data prepare`
    /// read unless told otherwise; a profile must name one of the others).
    #[default]
    Present,
    /// The 10,000 test images.
    Test,
    /// The 60,000 training images.
    Train,
    /// All 70,000: the training images, then the test images (so that a table holding
    /// 10,000 test rows out holds out exactly the test set).
    All,
}

/// The two halves of MNIST, as the pool's description names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Train,
    Test,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Test => "test",
        }
    }
}

impl Pool {
    pub fn as_str(self) -> &'static str {
        match self {
            Pool::Present => "present",
            Pool::Test => "test",
            Pool::Train => "train",
            Pool::All => "all",
        }
    }

    /// The halves this pool must read, in order; `None`: whichever are present.
    pub fn parts(self) -> Option<&'static [Part]> {
        match self {
            Pool::Present => None,
            Pool::Test => Some(&[Part::Test]),
            Pool::Train => Some(&[Part::Train]),
            Pool::All => Some(&[Part::Train, Part::Test]),
        }
    }
}

impl std::fmt::Display for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
