"""Translation: a seq2seq model with attention (Bahdanau or Luong) over Multi30k De-En."""
