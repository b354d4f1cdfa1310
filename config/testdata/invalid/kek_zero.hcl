kek {
}
