module image-gallery

go 1.19
