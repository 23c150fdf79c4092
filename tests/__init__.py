"""Tests of the Wake-up Coach integration and its simulator."""
