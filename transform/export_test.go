package transform

// SplitEventType is splitEventType, for the tests that need an event
// type's operation type as the fold reads it.
var SplitEventType = splitEventType
