fn main() {
    // placeholder: being written
}
