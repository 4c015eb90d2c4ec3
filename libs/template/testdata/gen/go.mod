module berth/template-golden

go 1.19
