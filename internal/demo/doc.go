// Package demo builds the demo warehouse.
package demo
