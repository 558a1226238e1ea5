"""Signal physics: form factors, emission spectra, track lengths and signal sampling."""
