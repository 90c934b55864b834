//! Scenario generator for Faultline (filled in by the incidents issue).
