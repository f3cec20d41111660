#!/usr/bin/env python3
"""Unit test of bench/overload_loss.py: python3 bench/overload_loss_test.py"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import overload_loss  # noqa: E402


class SummarizeTest(unittest.TestCase):
    def test_even_loss_is_fair(self):
        s = overload_loss.summarize([100, 100, 100], [50, 50, 50])
        self.assertAlmostEqual(s["loss_mean_pct"], 50.0)
        self.assertAlmostEqual(s["loss_max_pct"], 50.0)
        self.assertEqual(s["streams_muted"], 0)
        self.assertTrue(overload_loss.fair(s))

    def test_one_muted_stream_is_counted_and_unfair(self):
        s = overload_loss.summarize([100, 100, 100, 100], [100, 100, 100, 5])
        self.assertEqual(s["streams_muted"], 1)
        self.assertAlmostEqual(s["loss_max_pct"], 95.0)
        self.assertFalse(overload_loss.fair(s))

    def test_ninety_percent_loss_is_muted(self):
        self.assertEqual(overload_loss.summarize([100], [10])["streams_muted"], 1)
        self.assertEqual(overload_loss.summarize([100], [11])["streams_muted"], 0)

    def test_recovery_rule_mutes_a_silent_stream_with_little_offered(self):
        self.assertEqual(overload_loss.summarize([1], [0], nothing_is_muted=True)["streams_muted"], 1)

    def test_streams_offered_nothing_are_left_out(self):
        s = overload_loss.summarize([0, 100], [0, 100])
        self.assertEqual(s["loss_max_pct"], 0.0)
        self.assertEqual(s["streams_muted"], 0)

    def test_line_keeps_the_names(self):
        s = overload_loss.summarize([100], [40])
        self.assertEqual(overload_loss.line("overload", 1.5, 1, 9.1234, s),
                         "overload offered_x=1.50 streams=1 relayed_mpps=9.123 "
                         "loss_mean_pct=60.00 loss_max_pct=60.00 streams_muted=0")


if __name__ == "__main__":
    unittest.main()
