//go:build !linux || !cgo

package main

func limitCHeap() {}
